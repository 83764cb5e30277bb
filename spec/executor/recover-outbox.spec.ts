/**
 * Startup recovery against the real file outbox: a result already queued under a record's
 * result_id is never replaced by the exit-121 stand-in, and a refused pending command keeps its
 * ledger record while its 123 cannot be queued.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_TARGET_VERSION_JITTER_MS,
  encodeCommand,
  encodeExecResult,
  formatRfc3339,
  subjects,
  type ExecResult,
} from '../../contract/index.js';
import type { AgentConfig } from '../../actors/config/load-config.js';
import { createBrokerHub } from '../../actors/broker-hub.js';
import { draftCommand } from '../../actors/command-publisher.js';
import { createExecRuntime, type ExecRuntime } from '../../actors/exec/exec-runtime.js';
import { openAdmissionLedger } from '../../actors/exec/admission-ledger.js';
import { recoverLedger } from '../../actors/exec/recover-ledger.js';
import { createFailpoints } from '../../actors/failpoints.js';
import { uuidV4 } from '../../actors/ids.js';
import { createOutbox } from '../../actors/outbox/create-outboxes.js';
import { createLiveValue, type AgentServices, type OutboxPort } from '../../actors/ports.js';
import { pollUntil, tempDir } from './harness.js';

const PC = 'PC-RECOVER-OUTBOX';
const cleanups: Array<() => Promise<void>> = [];
const runtimes: ExecRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) {
    r.close();
    // The journal writes record files in the background: finish that before the dir is removed.
    await r.ledger.flush();
  }
  for (const c of cleanups.splice(0)) await c();
});

async function setup(
  opts: { requireSigned?: boolean; failResults?: boolean; failUnsynced?: boolean; onFailpoint?: (point: string) => Promise<void> } = {},
) {
  const { dir: dataDir, cleanup } = await tempDir('kanade-recover-');
  cleanups.push(cleanup);
  const log = pino({ level: 'silent' });
  const outbox = createOutbox('results', path.join(dataDir, 'outbox'), log);
  const results: OutboxPort<ExecResult> = opts.failResults
    ? {
        enqueue: async () => {
          throw new Error('ENOSPC: no space left on device (test)');
        },
        has: (id) => outbox.store.has(id),
      }
    : opts.failUnsynced
      ? {
          ...outbox,
          enqueueUnsynced: async () => {
            throw new Error('EIO: i/o error (test)');
          },
        }
      : outbox;
  const config: AgentConfig = {
    configPath: '/dev/null',
    pcId: PC,
    natsUrls: [],
    dataDir,
    log: { level: 'error', keepDays: 0 },
    security: { commandKeysFile: path.join(dataDir, 'no-keys.json'), requireSignedCommands: opts.requireSigned ?? false },
    control: { socket: path.join(dataDir, 'agent.sock') },
    inventory: { enabled: false, intervalMs: 86_400_000, jitterMs: 0 },
    credentials: {},
    deprecatedGroups: false,
    warnings: [],
  };
  // Enforcement with a bad keys file at start refuses every command (§6.2): the 123 path.
  if (opts.requireSigned) await writeFile(config.security.commandKeysFile, 'not a keyring', { mode: 0o600 });
  const sink: OutboxPort<never> = { enqueue: async () => undefined };
  const services: AgentServices = {
    config,
    log,
    agentVersion: '0.1.0-test',
    broker: createBrokerHub(),
    outboxes: { results, events: sink, obs: sink },
    effectiveConfig: createLiveValue({
      max_local_concurrent: 2,
      heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
      target_version: null,
      target_version_jitter_ms: DEFAULT_TARGET_VERSION_JITTER_MS,
    }),
    groups: createLiveValue<readonly string[]>([]),
    failpoints: opts.onFailpoint === undefined ? createFailpoints(undefined) : { ...createFailpoints(undefined), hit: opts.onFailpoint },
    now: Date.now,
    random: Math.random,
  } as AgentServices;
  const ledger = await openAdmissionLedger(dataDir);
  const admit = async (script: string, state: 'pending' | 'launching') => {
    const cmd = draftCommand({ shell: 'sh', script });
    const now = Date.now();
    const admission = await ledger.admit({
      requestId: cmd.request_id,
      body: new TextEncoder().encode(JSON.stringify(encodeCommand(cmd))),
      headers: {},
      subject: subjects.commandsPc(PC),
      receivedAt: formatRfc3339(now),
      resultId: uuidV4(),
      nowMs: now,
    });
    if (admission.kind !== 'admitted') throw new Error('not admitted');
    const record = state === 'launching' ? await ledger.update(admission.record, { state: 'launching' }) : admission.record;
    const real: ExecResult = {
      result_id: record.result_id,
      request_id: cmd.request_id,
      pc_id: PC,
      manifest_id: cmd.id,
      exit_code: 7,
      skipped: false,
      stdout: 'real\n',
      stderr: '',
      started_at: formatRfc3339(now),
      finished_at: formatRfc3339(now),
    };
    return { cmd, record, real };
  };
  const start = async () => {
    const runtime = await createExecRuntime(services);
    runtimes.push(runtime);
    return runtime;
  };
  const outboxDir = path.join(dataDir, 'outbox');
  const files = async (sub = '') =>
    (await readdir(path.join(outboxDir, sub)).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  const stored = async (requestId: string) => {
    const reopened = await openAdmissionLedger(dataDir);
    return (await reopened.unfinished()).find((r) => r.request_id === requestId);
  };
  /** The record as its file holds it once the journal is folded in (finished-and-queued ones too). */
  const recordFile = async (requestId: string) => {
    const reopened = await openAdmissionLedger(dataDir);
    await reopened.flush();
    return JSON.parse(await readFile(path.join(dataDir, 'admission', `${requestId}.json`), 'utf8')) as Record<string, unknown>;
  };
  return { dataDir, outbox, outboxDir, admit, start, files, stored, ledger, recordFile };
}

describe('ledger recovery and the results outbox', () => {
  it('launching + the real result already in outbox/: the file is unchanged, no 121, the record is finished', async () => {
    const s = await setup();
    const { cmd, real } = await s.admit('sleep 100', 'launching');
    // SIGKILL after the outbox enqueue, before the ledger `finished` write.
    await s.outbox.enqueue(real);
    const before = await readFile(path.join(s.outboxDir, `${real.result_id}.json`), 'utf8');
    const runtime = await s.start();
    expect(await recoverLedger(runtime)).toEqual([]);
    expect(await s.files()).toEqual([`${real.result_id}.json`]);
    const after = await readFile(path.join(s.outboxDir, `${real.result_id}.json`), 'utf8');
    expect(after).toBe(before);
    expect(JSON.parse(after)).toMatchObject({ exit_code: 7, stdout: 'real\n' });
    expect(await s.stored(cmd.request_id)).toBeUndefined();
  });

  it('launching + the real result quarantined in outbox/stuck/: no 121 is queued', async () => {
    const s = await setup();
    const { cmd, real } = await s.admit('sleep 100', 'launching');
    await mkdir(path.join(s.outboxDir, 'stuck'), { recursive: true });
    await writeFile(path.join(s.outboxDir, 'stuck', `${real.result_id}.json`), encodeExecResult(real));
    const runtime = await s.start();
    await recoverLedger(runtime);
    expect(await s.files()).toEqual([]);
    expect(await s.files('stuck')).toEqual([`${real.result_id}.json`]);
    expect(await s.stored(cmd.request_id)).toBeUndefined();
  });

  it('launching with nothing in the outbox: one exit-121 result under the stored result_id', async () => {
    const s = await setup();
    const { cmd, record } = await s.admit('sleep 100', 'launching');
    const runtime = await s.start();
    await recoverLedger(runtime);
    const name = `${record.result_id}.json`;
    await pollUntil('121 queued', 5_000, async () => (await s.files()).includes(name));
    expect(JSON.parse(await readFile(path.join(s.outboxDir, name), 'utf8'))).toMatchObject({ exit_code: 121, request_id: cmd.request_id });
    await pollUntil('record finished', 5_000, async () => (await s.stored(cmd.request_id)) === undefined);
  });

  it('enforcing: an unsigned pending command whose 123 cannot be queued keeps its ledger record', async () => {
    const failing = await setup({ requireSigned: true, failResults: true });
    const { cmd } = await failing.admit('echo never', 'pending');
    const runtime = await failing.start();
    expect(runtime.keyring.enforcing()).toBe(true);
    expect(await recoverLedger(runtime)).toEqual([]);
    expect(await failing.stored(cmd.request_id)).toMatchObject({ state: 'pending' });
    expect(await failing.files()).toEqual([]);

    // With the outbox writable the 123 is queued and only then the record goes.
    const ok = await setup({ requireSigned: true });
    const queued = await ok.admit('echo never', 'pending');
    expect(await recoverLedger(await ok.start())).toEqual([]);
    expect(await ok.stored(queued.cmd.request_id)).toBeUndefined();
    const [name] = await ok.files();
    expect(JSON.parse(await readFile(path.join(ok.outboxDir, name!), 'utf8'))).toMatchObject({
      exit_code: 123,
      request_id: queued.cmd.request_id,
    });
  });
});

describe('the result hand-off through the admission journal (issue #15 item 1)', () => {
  it('journals the whole result, writes the outbox file, then keeps only metadata, queued', async () => {
    // What is durable at each point: the ledger as a restart would read it, the outbox files.
    const seen: Array<[string, unknown, string[]]> = [];
    const watch: { requestId?: string } = {};
    const s = await setup({
      onFailpoint: async (point) => {
        if (watch.requestId === undefined || !point.startsWith('executor.result_')) return;
        const stored = await s.stored(watch.requestId);
        seen.push([
          point,
          stored === undefined ? 'queued' : [stored.state, stored.queued, stored.result_full, stored.result?.stdout],
          await s.files(),
        ]);
      },
    });
    const { cmd, record, real } = await s.admit('echo real', 'launching');
    watch.requestId = cmd.request_id;
    const runtime = await s.start();
    await runtime.deliverResult(record, real);
    const file = `${real.result_id}.json`;
    // The journal held the whole result before the file was written (the commit point).
    expect(seen).toEqual([
      ['executor.result_held', ['finished', false, true, 'real\n'], []],
      ['executor.result_recorded', ['finished', false, true, 'real\n'], []],
      ['executor.result_enqueued', ['finished', false, true, 'real\n'], [file]],
      ['executor.result_synced', ['finished', false, true, 'real\n'], [file]],
    ]);
    expect(await s.files()).toEqual([file]);
    expect(await readFile(path.join(s.outboxDir, file), 'utf8')).toBe(encodeExecResult(real));
    expect(await readdir(s.outboxDir)).not.toContain(`${file}.held`);
    // The record keeps metadata only once queued.
    await runtime.ledger.flush();
    expect(await s.stored(cmd.request_id)).toBeUndefined();
    expect(await s.recordFile(cmd.request_id)).toMatchObject({
      state: 'finished',
      queued: true,
      result_full: false,
      result: { exit_code: 7, stdout: '' },
    });
  });

  it('finished with the whole result but not queued (killed before the mark): recovery writes it again over a torn file', async () => {
    const s = await setup();
    const { cmd, record, real } = await s.admit('echo real', 'launching');
    await s.ledger.update(record, { state: 'finished', queued: false, result: real, result_full: true });
    await s.ledger.flush();
    // A power cut after the unsynced write can leave the file torn.
    await mkdir(s.outboxDir, { recursive: true });
    await writeFile(path.join(s.outboxDir, `${real.result_id}.json`), '{"result_id":');
    const runtime = await s.start();
    expect(await recoverLedger(runtime)).toEqual([]);
    await pollUntil(
      'the journaled result rewritten',
      5_000,
      async () => (await readFile(path.join(s.outboxDir, `${real.result_id}.json`), 'utf8').catch(() => '')) === encodeExecResult(real),
    );
    await pollUntil('record finished and queued', 5_000, async () => (await s.stored(cmd.request_id)) === undefined);
  });

  it('an outbox that cannot take the unsynced write: the held path queues the same result, the ledger keeps it until then', async () => {
    const s = await setup({ failUnsynced: true });
    const { cmd, record, real } = await s.admit('echo real', 'launching');
    const runtime = await s.start();
    await runtime.deliverResult(record, real);
    expect(await s.files()).toEqual([`${real.result_id}.json`]);
    expect(await readFile(path.join(s.outboxDir, `${real.result_id}.json`), 'utf8')).toBe(encodeExecResult(real));
    await runtime.ledger.flush();
    expect(await s.stored(cmd.request_id)).toBeUndefined();
    expect(await s.recordFile(cmd.request_id)).toMatchObject({ state: 'finished', queued: true, result: { exit_code: 7, stdout: '' } });
  });
});
