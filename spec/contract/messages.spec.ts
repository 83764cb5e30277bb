import { describe, expect, it } from 'vitest';
import {
  decodeCommandKeys,
  decodeConfigScope,
  decodeEventStarted,
  decodeExecResult,
  decodeGroupsValue,
  decodeHeartbeat,
  decodeHwInventory,
  decodeObsEvent,
  encodeEventStarted,
  encodeExecResult,
  encodeHeartbeat,
  encodeHwInventory,
  encodeObsEvent,
  resolveEffectiveConfig,
  unionGroups,
  type ExecResult,
} from '../../contract/index.js';

const RESULT: ExecResult = {
  result_id: '5d6c1f7e-8a9b-4c0d-9e1f-2a3b4c5d6e7f',
  request_id: '0b6f9a54-2f3e-4a8b-9d3c-5f1e2a7b8c9d',
  pc_id: 'PC001',
  manifest_id: 'adhoc-run',
  exit_code: 0,
  skipped: false,
  stdout: 'hi\n',
  stderr: '',
  started_at: '2026-05-16T00:00:00.000Z',
  finished_at: '2026-05-16T00:00:01.250Z',
};

/** Runs `decode` on `sample` with each key in `required` removed in turn and expects a precise error. */
function eachRequiredMissing(
  sample: Record<string, unknown>,
  required: readonly string[],
  decode: (s: string) => { ok: boolean; error?: { path: string; reason: string } },
) {
  for (const key of required) {
    const body = { ...sample };
    delete body[key];
    const decoded = decode(JSON.stringify(body));
    expect(decoded.ok, `without ${key}`).toBe(false);
    expect(decoded.error).toEqual({ path: key, reason: 'is required' });
  }
}

describe('ExecResult (§5.3)', () => {
  it('round-trips and keeps the contract field order', () => {
    const wire = encodeExecResult(RESULT);
    expect(Object.keys(JSON.parse(wire))).toEqual([
      'result_id',
      'request_id',
      'pc_id',
      'manifest_id',
      'exit_code',
      'skipped',
      'stdout',
      'stderr',
      'started_at',
      'finished_at',
    ]);
    const decoded = decodeExecResult(wire);
    expect(decoded.ok && decoded.value).toEqual(RESULT);
  });

  it('always writes skipped and omits unset optionals', () => {
    const wire = JSON.parse(encodeExecResult({ ...RESULT, skipped: false }));
    expect(wire.skipped).toBe(false);
    for (const absent of ['exec_id', 'stdout_object', 'stderr_object', 'parent_result_id', 'collect_object'])
      expect(wire).not.toHaveProperty(absent);
  });

  it('writes exec_id and object pointers when set', () => {
    const wire = JSON.parse(
      encodeExecResult({ ...RESULT, exec_id: 'job-1', stdout: '', stdout_object: `${RESULT.request_id}/PC001/stdout` }),
    );
    expect(wire.exec_id).toBe('job-1');
    expect(wire.stdout).toBe('');
    expect(wire.stdout_object).toBe(`${RESULT.request_id}/PC001/stdout`);
  });

  it('accepts unknown fields and rejects each missing required field', () => {
    expect(decodeExecResult(JSON.stringify({ ...RESULT, parent_result_id: 'x', extra: [1] })).ok).toBe(true);
    eachRequiredMissing(
      { ...RESULT },
      ['result_id', 'request_id', 'pc_id', 'manifest_id', 'exit_code', 'skipped', 'started_at', 'finished_at'],
      decodeExecResult,
    );
  });

  it('rejects a non-integer exit code', () => {
    const decoded = decodeExecResult(JSON.stringify({ ...RESULT, exit_code: 1.5 }));
    expect(!decoded.ok && decoded.error.path).toBe('exit_code');
  });
});

describe('EventStarted (§5.7)', () => {
  const event = {
    result_id: RESULT.result_id,
    request_id: RESULT.request_id,
    exec_id: 'job-1',
    pc_id: 'PC001',
    started_at: RESULT.started_at,
    manifest_id: 'm',
    version: '1.0.0',
  };
  it('round-trips and requires every field', () => {
    expect(decodeEventStarted(encodeEventStarted(event))).toEqual({ ok: true, value: event });
    eachRequiredMissing(event, Object.keys(event), decodeEventStarted);
  });
});

describe('ObsEvent (§5.8)', () => {
  const event = {
    pc_id: 'PC001',
    at: '2026-05-16T00:00:00.000Z',
    kind: 'agent_online',
    source: 'agent:startup',
    event_record_id: 'startup_1',
    payload: { agent_version: '0.1.0' },
  };
  it('round-trips, omits absent optionals and requires pc_id, at, kind, source', () => {
    expect(decodeObsEvent(encodeObsEvent(event))).toEqual({ ok: true, value: event });
    expect(JSON.parse(encodeObsEvent({ pc_id: 'p', at: event.at, kind: 'k', source: 's' }))).toEqual({
      pc_id: 'p',
      at: event.at,
      kind: 'k',
      source: 's',
    });
    eachRequiredMissing(event, ['pc_id', 'at', 'kind', 'source'], decodeObsEvent);
  });
});

describe('Heartbeat (§5.4)', () => {
  const beat = {
    pc_id: 'PC001',
    at: '2026-05-16T00:00:00.000Z',
    agent_version: '0.1.0',
    command_keys: ['backend-20260728:75b4c8f44e18012d'],
    enforcing: true,
    command_protocols: ['legacy', 'kanade.command.v2'],
    hostname: 'PC001',
    os_family: 'linux',
    agent_rss_bytes: 52_000_000,
  };
  it('round-trips and omits an empty quarantined_versions', () => {
    const wire = encodeHeartbeat({ ...beat, os_family: 'linux', quarantined_versions: [] });
    expect(JSON.parse(wire)).not.toHaveProperty('quarantined_versions');
    expect(decodeHeartbeat(wire)).toEqual({ ok: true, value: beat });
  });
  it('requires the always-present fields', () => {
    eachRequiredMissing(beat, ['pc_id', 'at', 'agent_version', 'command_keys', 'enforcing'], decodeHeartbeat);
  });
  it('rejects an unknown os_family', () => {
    expect(decodeHeartbeat(JSON.stringify({ ...beat, os_family: 'beos' })).ok).toBe(false);
  });
});

describe('HwInventory (§5.5)', () => {
  const hw = {
    pc_id: 'PC001',
    collected_at: '2026-05-16T00:00:00.000Z',
    hostname: 'PC001',
    os_name: 'Microsoft Windows 11 Pro',
    os_version: '10.0.22631',
    os_build: '22631',
    cpu_model: 'Intel(R) Core(TM) i7-1165G7',
    cpu_cores: 4,
    ram_bytes: 17_179_869_184,
    disks: [{ device_id: 'C:', size_bytes: 511_000_000_000, free_bytes: 200_000_000_000, file_system: 'NTFS' }],
  };
  it('round-trips, requires every field and positive cores/RAM and a non-empty os_name', () => {
    expect(decodeHwInventory(encodeHwInventory(hw))).toEqual({ ok: true, value: hw });
    eachRequiredMissing(hw, Object.keys(hw), decodeHwInventory);
    expect(decodeHwInventory(JSON.stringify({ ...hw, cpu_cores: 0 })).ok).toBe(false);
    expect(decodeHwInventory(JSON.stringify({ ...hw, os_name: '' })).ok).toBe(false);
    const badDisk = decodeHwInventory(
      JSON.stringify({ ...hw, disks: [{ device_id: 'C:', size_bytes: -1, free_bytes: 0, file_system: 'NTFS' }] }),
    );
    expect(!badDisk.ok && badDisk.error.path).toBe('disks[0].size_bytes');
  });
});

describe('ConfigScope and EffectiveConfig (§5.6)', () => {
  it('keeps valid fields, warns on bad ones, treats null as absent', () => {
    const decoded = decodeConfigScope(
      JSON.stringify({
        heartbeat_interval: 'fast',
        max_local_concurrent: 0,
        target_version: null,
        target_version_jitter: '0s',
        process_perf_top_n: 5,
      }),
    );
    if (!decoded.ok) throw new Error('must decode');
    expect(decoded.value.scope).toEqual({ target_version_jitter_ms: 0, invalid: ['max_local_concurrent', 'heartbeat_interval_ms'] });
    expect(decoded.value.warnings).toHaveLength(2);
    expect(decoded.value.warnings.join('\n')).toContain('heartbeat_interval');
    expect(decoded.value.warnings.join('\n')).toContain('max_local_concurrent');
  });

  it('rejects only non-object JSON', () => {
    expect(decodeConfigScope('[]').ok).toBe(false);
    expect(decodeConfigScope('{').ok).toBe(false);
  });

  it('layers defaults → global → groups alphabetically → pc, warning on group conflicts', () => {
    const { config, warnings } = resolveEffectiveConfig(
      {
        global: { heartbeat_interval_ms: 10_000, max_local_concurrent: 8 },
        groups: new Map([
          ['zeta', { max_local_concurrent: 2 }],
          ['alpha', { max_local_concurrent: 4, target_version: '1.2.0' }],
        ]),
        pc: { target_version: '1.3.0' },
      },
      16,
    );
    expect(config).toEqual({
      max_local_concurrent: 2,
      heartbeat_interval_ms: 10_000,
      target_version: '1.3.0',
      target_version_jitter_ms: 600_000,
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('zeta wins');
  });

  it('an invalid value in a later layer means the default, overriding earlier layers (§5.6 "invalid ⇒ 30 s")', () => {
    const pc = decodeConfigScope('{"heartbeat_interval":"banana"}');
    if (!pc.ok) throw new Error('must decode');
    const { config } = resolveEffectiveConfig(
      { global: { heartbeat_interval_ms: 1_000, max_local_concurrent: 3 }, groups: new Map(), pc: pc.value.scope },
      8,
    );
    expect(config.heartbeat_interval_ms).toBe(30_000);
    expect(config.max_local_concurrent).toBe(3);
  });

  it('defaults max_local_concurrent to the CPU count, at least 1', () => {
    expect(resolveEffectiveConfig({ groups: new Map() }, 0).config.max_local_concurrent).toBe(1);
    expect(resolveEffectiveConfig({ groups: new Map() }, 12).config).toEqual({
      max_local_concurrent: 12,
      heartbeat_interval_ms: 30_000,
      target_version: null,
      target_version_jitter_ms: 600_000,
    });
  });
});

describe('groups and keyring values', () => {
  it('unions both group buckets', () => {
    const a = decodeGroupsValue('{"groups":["b","a"]}');
    const b = decodeGroupsValue('{"groups":["c","a"],"extra":true}');
    if (!a.ok || !b.ok) throw new Error('must decode');
    expect(unionGroups(a.value, b.value, undefined)).toEqual(['a', 'b', 'c']);
    expect(decodeGroupsValue('{"groups":"a"}').ok).toBe(false);
  });

  it('decodes a keyring and rejects duplicate kids and bad keys', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const ring = decodeCommandKeys(
      JSON.stringify([
        { kid: 'k1', public_key: key, max_age_secs: 300 },
        { kid: 'k2', public_key: key, label: 'ops' },
      ]),
    );
    expect(ring.ok && ring.value.map((k) => k.kid)).toEqual(['k1', 'k2']);
    const dup = decodeCommandKeys(
      JSON.stringify([
        { kid: 'k1', public_key: key },
        { kid: 'k1', public_key: key },
      ]),
    );
    expect(!dup.ok && dup.error.reason).toContain('duplicate kid');
    expect(decodeCommandKeys(JSON.stringify([{ kid: 'k1', public_key: Buffer.alloc(31).toString('base64') }])).ok).toBe(false);
  });
});
