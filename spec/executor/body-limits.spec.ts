/** Issue #17 item 5 / #13 item 6: the body screen bounds its work and never throws on hostile JSON. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { jsonNestingDepth, MAX_COMMAND_JSON_DEPTH, requestIdHint } from '../../actors/exec/body-limits.js';
import { screenMessage } from '../../actors/exec/intake-pipeline.js';
import { commandBytes, draftCommand } from '../../actors/command-publisher.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('jsonNestingDepth', () => {
  it.each([
    ['{}', 1],
    ['{"a":[1,{"b":2}]}', 3],
    ['"[[[[["', 0],
    ['{"a":"\\"[[[["}', 1],
    ['[[]]', 2],
  ])('%s → %i', (text, depth) => {
    expect(jsonNestingDepth(bytes(text), 64)).toBe(depth);
  });

  it('stops at limit + 1 on a body nested 1,000,000 deep', () => {
    expect(jsonNestingDepth(bytes('['.repeat(1_000_000)), 32)).toBe(33);
  });
});

describe('requestIdHint', () => {
  it.each([
    [{ request_id: 'abc' }, 'abc'],
    [{ command: { request_id: 'inner' } }, 'inner'],
    [{ request_id: [[['x']]] }, ''],
    [{ request_id: { toString: 1 } }, ''],
    [{ request_id: 42 }, ''],
    [[1, 2], ''],
    ['str', ''],
    [{ request_id: 'x'.repeat(500) }, 'x'.repeat(128)],
  ])('%j → %j', (parsed, hint) => {
    expect(requestIdHint(parsed)).toBe(hint);
  });
});

describe('screenMessage', () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const ctx = { pcId: 'PC1', log, groups: () => new Set<string>() };
  const msg = (data: Uint8Array) => ({ subject: 'commands.pc.PC1', data, headers: {}, source: 'replay' as const, receivedAtMs: 0 });

  it.each([
    [
      'a request_id nested 100,000 deep',
      `{"request_id":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      `nested deeper than ${MAX_COMMAND_JSON_DEPTH} levels`,
    ],
    ['bad JSON', '{"request_id":', 'not UTF-8 JSON'],
    ['over 1 MiB', `"${'x'.repeat(1024 * 1024)}"`, 'body over 1048576 bytes'],
  ])('%s → acked, one warn line with size and reason', (_name, text, reason) => {
    lines.length = 0;
    const data = bytes(text);
    expect(screenMessage(msg(data), ctx)).toEqual({ ack: true, outcome: 'undecodable' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, bytes: data.length, msg: 'undecodable command body; acked and dropped' });
    expect(String(lines[0]?.['reason'])).toContain(reason);
  });

  it('a valid command passes with its parsed body', () => {
    const cmd = draftCommand({ shell: 'sh', script: 'true' });
    const screened = screenMessage(msg(commandBytes(cmd)), ctx);
    expect(screened).toMatchObject({ parsed: { request_id: cmd.request_id } });
  });
});
