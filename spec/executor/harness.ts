/**
 * Executor test harness: a real agent-side NATS connection behind a BrokerHub, a results/events/obs
 * outbox that publishes straight to JetStream (spec-only stand-in until the outbox store is wired by
 * the supervisor), the `executor` machine started on it, and helpers to publish and collect.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { pino } from 'pino';
import { createActor, fromPromise, type Actor } from 'xstate';
import {
  decodeExecResult,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_TARGET_VERSION_JITTER_MS,
  encodeEventStarted,
  encodeExecResult,
  encodeObsEvent,
  subjects,
  type EventStarted,
  type ExecResult,
  type ObsEvent,
} from '../../contract/index.js';
import type { AgentConfig } from '../../actors/config/load-config.js';
import { createBrokerHub, type BrokerHub } from '../../actors/broker-hub.js';
import { createFailpoints } from '../../actors/failpoints.js';
import { createExecRuntime, type ExecRuntime } from '../../actors/exec/exec-runtime.js';
import { CONFIG_NOT_SYNCED, createLiveValue, type AgentServices, type ConfigServices, type OutboxPort } from '../../actors/ports.js';
import { commandRunLogic, executorLogic } from '../../supervisor/children.js';
import type { Broker } from '../harness/broker.js';
import { spawnAgent, type AgentDir } from '../process/agent-process.js';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { pollUntil } from '../harness/poll.js';

/** Options of {@link startExecutor}. */
export interface ExecutorOptions {
  pcId?: string;
  dataDir?: string;
  keysFile?: string;
  requireSigned?: boolean;
  requireEnvelope?: boolean;
  maxConcurrent?: number;
  groups?: string[];
  failpoints?: string;
  /** The queued-run cap (default MAX_QUEUED_RUNS), injected small the way the ledger caps are. */
  maxQueuedRuns?: number;
  /** The run machine with some effects replaced (`commandRunLogic.provide(...)`), to inject a fault into a run. */
  commandRun?: typeof commandRunLogic;
}

/** A running executor and its handles. */
export interface TestExecutor {
  actor: Actor<typeof executorLogic>;
  /** Writable hubs: the test plays the `config` child, their one writer. */
  services: ConfigServices;
  hub: BrokerHub;
  nc: NatsConnection;
  pcId: string;
  dataDir: string;
  logs: Array<Record<string, unknown> & { msg: string; level: number }>;
  obs: ObsEvent[];
  events: EventStarted[];
  setGroups(groups: string[]): void;
  /** Makes the next `fail` results enqueues reject like a full disk; counts the rejections. */
  resultFaults: { fail: number; rejected: number };
  /** Sends shutdown and waits for the final state. */
  stop(): Promise<void>;
}

/** An outbox that publishes each message with JetStream (PubAck) — the test stand-in for §9. */
function jsOutbox<T>(
  hub: BrokerHub,
  subject: (m: T) => string,
  encode: (m: T) => string,
  seen?: T[],
  faults?: { fail: number; rejected: number },
): OutboxPort<T> {
  return {
    async enqueue(message) {
      if (faults !== undefined && faults.fail > 0) {
        faults.fail -= 1;
        faults.rejected += 1;
        throw new Error('ENOSPC: no space left on device (test)');
      }
      const state = hub.state();
      if (!state.connected) throw new Error('test outbox: broker not connected');
      await jetstream(state.nc).publish(subject(message), encode(message));
      seen?.push(message);
    },
  };
}

let counter = 0;

/** Starts the executor child for `broker` with a fresh data dir (unless given). */
export async function startExecutor(broker: Broker, opts: ExecutorOptions = {}): Promise<TestExecutor> {
  counter += 1;
  const pcId = opts.pcId ?? `PC-${process.pid}-${counter}`;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'kanade-exec-')));
  const logs: TestExecutor['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const nc = await connect({ servers: broker.url, name: pcId, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const hub = createBrokerHub();
  hub.connected(nc, broker.url, Date.now());
  const config: AgentConfig = {
    configPath: '/dev/null',
    pcId,
    natsUrls: [broker.url],
    dataDir,
    log: { level: 'debug', keepDays: 0 },
    security: {
      commandKeysFile: opts.keysFile ?? path.join(dataDir, 'no-keys.json'),
      requireSignedCommands: opts.requireSigned ?? false,
      requireEnvelope: opts.requireEnvelope ?? false,
    },
    control: { socket: path.join(dataDir, 'agent.sock') },
    inventory: { enabled: false, intervalMs: 86_400_000, jitterMs: 0 },
    credentials: {},
    deprecatedGroups: false,
    warnings: [],
  };
  const groups = createLiveValue<readonly string[]>(opts.groups ?? []);
  const obs: ObsEvent[] = [];
  const events: EventStarted[] = [];
  const resultFaults = { fail: 0, rejected: 0 };
  const services: ConfigServices = {
    config,
    log: pino({ level: 'debug' }, sink),
    agentVersion: '0.1.0-test',
    broker: hub,
    outboxes: {
      results: jsOutbox<ExecResult>(hub, (r) => subjects.results(r.request_id), encodeExecResult, undefined, resultFaults),
      events: jsOutbox<EventStarted>(hub, (e) => subjects.eventsStarted(e.exec_id, e.pc_id), encodeEventStarted, events),
      obs: jsOutbox<ObsEvent>(hub, (e) => subjects.obs(e.pc_id), encodeObsEvent, obs),
    },
    effectiveConfig: createLiveValue({
      max_local_concurrent: opts.maxConcurrent ?? 4,
      heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
      target_version: null,
      target_version_jitter_ms: DEFAULT_TARGET_VERSION_JITTER_MS,
    }),
    groups,
    configSync: createLiveValue(CONFIG_NOT_SYNCED),
    failpoints: createFailpoints(opts.failpoints),
    now: Date.now,
    random: Math.random,
  };
  const machine = executorLogic.provide({
    actors: {
      ...(opts.maxQueuedRuns !== undefined && {
        createRuntime: fromPromise<ExecRuntime, AgentServices>(({ input }) =>
          createExecRuntime(input, { maxQueuedRuns: opts.maxQueuedRuns }),
        ),
      }),
      ...(opts.commandRun !== undefined && { commandRun: opts.commandRun }),
    },
  });
  const actor = createActor(machine, { input: services });
  actor.subscribe({ error: (err) => logs.push({ level: 60, msg: `executor crashed: ${String(err)}` }) });
  actor.start();
  await pollUntil('intake on', 10_000, () => actor.getSnapshot().context.status.replay);
  return {
    actor,
    services,
    hub,
    nc,
    pcId,
    dataDir,
    logs,
    obs,
    events,
    resultFaults,
    setGroups: (g) => groups.set(g),
    async stop() {
      actor.send({ type: 'shutdown' });
      await pollUntil('executor stopped', 20_000, () => actor.getSnapshot().status === 'done');
      // A stopped agent's process is gone, and its ledger's background materializer with it: finish
      // that here, so the next executor on this data dir is its only writer (as the instance lock
      // makes it for real agents), never racing a materializer that empties the journal under it.
      await actor.getSnapshot().context.runtime?.ledger.flush();
      await nc.close().catch(() => undefined);
    },
  };
}

/** Every ExecResult stored in RESULTS for `requestId`, oldest first. */
export async function resultsFor(broker: Broker, requestId: string): Promise<ExecResult[]> {
  const out: ExecResult[] = [];
  const info = await broker.jsm.streams.info('RESULTS', { subjects_filter: subjects.results(requestId) });
  const count = info.state.subjects?.[subjects.results(requestId)] ?? 0;
  if (count === 0) return out;
  let seq = 1;
  for (let i = 0; i < count; i += 1) {
    const m = await broker.jsm.streams.getMessage('RESULTS', { seq, next_by_subj: subjects.results(requestId) } as unknown as {
      seq: number;
    });
    if (m === null) break;
    const decoded = decodeExecResult(m.data);
    if (decoded.ok) out.push(decoded.value);
    seq = m.seq + 1;
  }
  return out;
}

/** The raw bytes of every message on `results.<request_id>` in RESULTS, oldest first (byte-identity checks). */
export async function rawResults(broker: Broker, requestId: string): Promise<string[]> {
  const out: string[] = [];
  for (let seq = 1; ;) {
    const m = await broker.jsm.streams
      .getMessage('RESULTS', { seq, next_by_subj: subjects.results(requestId) } as unknown as { seq: number })
      .catch(() => null);
    if (m === null) return out;
    out.push(Buffer.from(m.data).toString('utf8'));
    seq = m.seq + 1;
  }
}

/** Starts the agent of `dir` once more and waits until it has answered a probe command (its recovery is done), then stops it. */
export async function restartAndProbe(broker: Broker, dir: AgentDir): Promise<void> {
  const again = spawnAgent(dir);
  try {
    const probe = draftCommand({ shell: 'sh', script: 'true' });
    await publishCommand(broker.nc, subjects.commandsAll, commandBytes(probe));
    await waitForResults(broker, probe.request_id, 1, 40_000);
  } finally {
    again.kill('SIGTERM');
    await again.exited;
  }
}

/** Non-empty lines in `file` (0 when it does not exist): how often a marker script ran. */
export async function lineCount(file: string): Promise<number> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

/** Waits for at least `n` results for `requestId`, then returns them all. */
export async function waitForResults(broker: Broker, requestId: string, n = 1, timeoutMs = 20_000): Promise<ExecResult[]> {
  return pollUntil(`${n} result(s) for ${requestId}`, timeoutMs, async () => {
    const info = await broker.jsm.streams.info('RESULTS', { subjects_filter: subjects.results(requestId) });
    const count = info.state.subjects?.[subjects.results(requestId)] ?? 0;
    return count >= n ? resultsFor(broker, requestId) : undefined;
  });
}

/** A fresh temp dir removed by the returned cleanup. */
export async function tempDir(prefix = 'kanade-exec-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => removeDir(dir) };
}

/**
 * Removes a test's data dir. The admission journal writes record files in the background for up to
 * a few hundred ms after a run, so a plain rm can meet a file created mid-walk (ENOTEMPTY): retry.
 */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/** Writes a keyring file. */
export async function writeKeyring(file: string, keys: Array<Record<string, unknown>>): Promise<void> {
  await writeFile(file, JSON.stringify(keys), { mode: 0o600 });
}

/** True while `pid` exists and is not a zombie (an unreaped zombie has already died). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export { pollUntil };
