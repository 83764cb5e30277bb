import { describe, expect, it } from 'vitest';
import { decodeCommandBody, describeDecodeError, encodeCommand, type Command } from '../../contract/index.js';

// A Command as the kanade CLI publishes it for `kanade run` (§5.1): null exec_id/jitter_secs.
const LEGACY = {
  id: 'adhoc-run',
  version: '0.0.0',
  request_id: '0b6f9a54-2f3e-4a8b-9d3c-5f1e2a7b8c9d',
  exec_id: null,
  shell: 'powershell',
  script: 'Get-Date',
  timeout_secs: 60,
  jitter_secs: null,
};

const FULL = {
  ...LEGACY,
  exec_id: 'deploy-42',
  jitter_secs: 30,
  run_as: 'system',
  cwd: 'C:\\Temp',
  deadline_at: '2026-05-16T00:00:00+09:00',
  staleness: { mode: 'strict', max_cache_age: '5m' },
  retry: { max: 2, backoff_secs: 10 },
  bypass_local_limit: true,
  script_object: 'inventory/1.2.0',
  script_object_sha256: 'a'.repeat(64),
  emit: { whatever: 1 },
  future_field: 'ignored',
};

const REQUIRED = ['id', 'version', 'request_id', 'shell', 'script', 'timeout_secs'] as const;

describe('decodeCommandBody (legacy Command, §5.1)', () => {
  it('decodes the CLI payload with defaults for absent optionals', () => {
    const decoded = decodeCommandBody(JSON.stringify(LEGACY));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.protocol).toBe('legacy');
    const cmd = decoded.value.command;
    expect(cmd.exec_id).toBeUndefined();
    expect(cmd.jitter_secs).toBeUndefined();
    expect(cmd.run_as).toBe('system');
    expect(cmd.staleness).toEqual({ mode: 'cached' });
    expect(cmd.bypass_local_limit).toBe(false);
  });

  it('decodes every optional field and ignores unknown ones', () => {
    const decoded = decodeCommandBody(new TextEncoder().encode(JSON.stringify(FULL)));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const cmd = decoded.value.command;
    expect(cmd.exec_id).toBe('deploy-42');
    expect(cmd.staleness).toEqual({ mode: 'strict', max_cache_age: '5m', max_cache_age_ms: 300_000 });
    expect(cmd.retry).toEqual({ max: 2, backoff_secs: 10 });
    expect(cmd.deadline_at).toBe('2026-05-16T00:00:00+09:00');
    expect(cmd).not.toHaveProperty('future_field');
  });

  it('accepts job_id as an alias of exec_id', () => {
    const decoded = decodeCommandBody(JSON.stringify({ ...LEGACY, exec_id: undefined, job_id: 'sched-7' }));
    expect(decoded.ok && decoded.value.command.exec_id).toBe('sched-7');
  });

  it.each(REQUIRED)('rejects a command without %s, naming the field', (key) => {
    const body: Record<string, unknown> = { ...LEGACY };
    delete body[key];
    const decoded = decodeCommandBody(JSON.stringify(body));
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error).toEqual({ path: key, reason: 'is required' });
  });

  it.each([
    [{ shell: 'bash' }, 'shell', 'expected one of'],
    [{ timeout_secs: -1 }, 'timeout_secs', 'non-negative integer'],
    [{ timeout_secs: '60' }, 'timeout_secs', 'non-negative integer'],
    [{ request_id: 'not-a-uuid' }, 'request_id', 'UUID'],
    [{ deadline_at: 'tomorrow' }, 'deadline_at', 'RFC 3339'],
    [{ staleness: { mode: 'strict' } }, 'staleness.max_cache_age', 'is required'],
    [{ staleness: { mode: 'strict', max_cache_age: 'soon' } }, 'staleness.max_cache_age', 'humantime'],
    [{ retry: { max: 1 } }, 'retry.backoff_secs', 'is required'],
    [{ script_object: 'x/1' }, 'script_object_sha256', 'required with script_object'],
    [{ script_object: 'x/1', script_object_sha256: 'A'.repeat(64) }, 'script_object_sha256', 'lowercase hex'],
    [{ run_as: 'admin' }, 'run_as', 'expected one of'],
  ])('rejects %j at %s', (patch, path, reason) => {
    const decoded = decodeCommandBody(JSON.stringify({ ...LEGACY, ...patch }));
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.path).toBe(path);
    expect(decoded.error.reason).toContain(reason);
  });

  it('returns an error value for garbage, never throws', () => {
    for (const garbage of ['', 'not json', '[1,2]', 'null', '42', new Uint8Array([0xff, 0xfe, 0x00])]) {
      const decoded = decodeCommandBody(garbage);
      expect(decoded.ok).toBe(false);
      if (!decoded.ok) expect(describeDecodeError(decoded.error)).toMatch(/\S/);
    }
  });

  it('encodes as the CLI does: null exec_id and jitter_secs, no false bypass flag', () => {
    const decoded = decodeCommandBody(JSON.stringify(LEGACY));
    if (!decoded.ok) throw new Error('fixture must decode');
    expect(encodeCommand(decoded.value.command as Command)).toEqual({ ...LEGACY });
  });
});

describe('v2 envelope (§5.2)', () => {
  const envelope = { kind: 'kanade.command.v2', target_pc_id: 'PC001', expires_at: '2026-05-17T00:00:00Z', command: LEGACY };

  it('decodes an envelope with exactly four keys', () => {
    const decoded = decodeCommandBody(JSON.stringify(envelope));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok || decoded.value.protocol !== 'kanade.command.v2') throw new Error('expected v2');
    expect(decoded.value.envelope.target_pc_id).toBe('PC001');
    expect(decoded.value.command.request_id).toBe(LEGACY.request_id);
  });

  it.each([
    [{ ...envelope, extra: 1 }, 'unexpected key'],
    [{ ...envelope, kind: 'kanade.command.v3' }, 'unknown command kind'],
    [{ ...envelope, kind: null }, 'expected the string'],
    [{ ...envelope, kind: 2 }, 'expected the string'],
    [{ ...envelope, expires_at: 'never' }, 'RFC 3339'],
    [{ ...envelope, command: { ...LEGACY, shell: 'zsh' } }, 'expected one of'],
  ])('rejects %j', (body, reason) => {
    const decoded = decodeCommandBody(JSON.stringify(body));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error.reason).toContain(reason);
  });

  it.each(['kind', 'target_pc_id', 'expires_at', 'command'])('rejects an envelope without %s', (key) => {
    const body: Record<string, unknown> = { ...envelope };
    delete body[key];
    const decoded = decodeCommandBody(JSON.stringify(body));
    expect(decoded.ok).toBe(false);
  });
});
