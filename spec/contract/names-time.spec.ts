import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatRfc3339,
  isAddressedTo,
  parseDurationMs,
  parseRfc3339,
  replayDurableName,
  resultOutputKey,
  signedBytes,
  subjects,
} from '../../contract/index.js';
import { signatureRefusedResultId, uuidV5 } from '../../actors/ids.js';

describe('subjects and names (§3, §7, §8.5)', () => {
  it('builds subjects verbatim', () => {
    expect(subjects.commandsPc('PC-Ab1')).toBe('commands.pc.PC-Ab1');
    expect(subjects.eventsStarted('job-1', 'PC001')).toBe('events.started.job-1.PC001');
    expect(subjects.results('r1')).toBe('results.r1');
    expect(subjects.inventoryHw('PC001')).toBe('inventory.PC001.hw');
    expect(subjects.ping('PC001')).toBe('agents.PC001.ping');
  });

  it('sanitises the replay durable name', () => {
    expect(replayDurableName('PC001')).toBe('agent_replay_PC001');
    expect(replayDurableName('host.example.com')).toBe('agent_replay_host_example_com');
  });

  it('checks addressing case-sensitively', () => {
    const groups = new Set(['lab']);
    expect(isAddressedTo('commands.all', 'PC001', groups)).toBe(true);
    expect(isAddressedTo('commands.pc.PC001', 'PC001', groups)).toBe(true);
    expect(isAddressedTo('commands.pc.pc001', 'PC001', groups)).toBe(false);
    expect(isAddressedTo('commands.group.lab', 'PC001', groups)).toBe(true);
    expect(isAddressedTo('commands.group.ops', 'PC001', groups)).toBe(false);
    expect(isAddressedTo('commands.other', 'PC001', groups)).toBe(false);
  });

  it('names offloaded output objects', () => {
    expect(resultOutputKey('r', 'PC001', 'stdout')).toBe('r/PC001/stdout');
    expect(resultOutputKey('r', 'PC001', 'stderr', 2)).toBe('r/PC001/stderr.r2');
  });
});

describe('time (§1)', () => {
  it('accepts fractions and offsets and emits UTC milliseconds', () => {
    expect(parseRfc3339('2026-05-16T00:00:00Z')).toBe(Date.UTC(2026, 4, 16));
    expect(parseRfc3339('2026-05-16T09:00:00.5+09:00')).toBe(Date.UTC(2026, 4, 16) + 500);
    expect(parseRfc3339('2026-02-30T00:00:00Z')).toBeUndefined();
    expect(parseRfc3339('2026-05-16')).toBeUndefined();
    expect(formatRfc3339(Date.UTC(2026, 4, 16))).toBe('2026-05-16T00:00:00.000Z');
  });

  it('parses and formats humantime', () => {
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('1h 30m')).toBe(5_400_000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('0s')).toBe(0);
    for (const bad of ['', 'soon', '-5s', '5', '5 parsecs']) expect(parseDurationMs(bad)).toBeUndefined();
    expect(formatDuration(90_000)).toBe('1m 30s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(Infinity)).toBe('∞');
  });
});

describe('signing and ids (§6)', () => {
  it('prefixes the body with the big-endian timestamp', () => {
    const bytes = signedBytes(1_700_000_000_000n, new Uint8Array([1, 2]));
    expect(Buffer.from(bytes).toString('hex')).toBe(`${(1_700_000_000_000).toString(16).padStart(16, '0')}0102`);
  });

  it('computes RFC 4122 UUIDv5 (known vector) and the refusal id deterministically', () => {
    // The RFC 4122 / Python documentation vector: uuid5(NAMESPACE_DNS, "python.org").
    const id = uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8');
    expect(id).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
    expect(signatureRefusedResultId('r', 'PC001')).toBe(signatureRefusedResultId('r', 'PC001'));
    expect(signatureRefusedResultId('r', 'PC001')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('timer delays', () => {
  it("clamps to setTimeout's ceiling and to zero", async () => {
    const { timerDelayMs, MAX_TIMER_MS } = await import('../../contract/index.js');
    expect(timerDelayMs(30 * 86_400_000)).toBe(MAX_TIMER_MS);
    expect(timerDelayMs(-5)).toBe(0);
    expect(timerDelayMs(30_000)).toBe(30_000);
  });
});
