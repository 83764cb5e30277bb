/**
 * The executor's shared, process-wide pieces: keyring, admission ledger, slot budget, policy
 * reader, the intake pipeline and durable result delivery. Built once by the `executor` child and
 * handed to every `commandRun` actor; none of it lives in machine context as data.
 */
import type { Logger } from 'pino';
import {
  encodeObsEvent,
  formatRfc3339,
  isSubjectToken,
  OBS_SOURCE_ADMISSION,
  subjects,
  type Command,
  type EventStarted,
  type ExecResult,
  type ObsEvent,
} from '../../contract/index.js';
import { jetstream } from '@nats-io/jetstream';
import { uuidV4 } from '../ids.js';
import type { AgentServices } from '../ports.js';
import { openAdmissionLedger, type AdmissionLedger, type AdmissionRecord } from './admission-ledger.js';
import { checkGates, createScriptPolicyReader, type ScriptPolicyReader } from './gates.js';
import {
  createIntakePipeline,
  isScreened,
  screenMessage,
  type AdmittedCommand,
  type IntakeDecision,
  type IntakeMessage,
  type ScreenedMessage,
} from './intake-pipeline.js';
import { requestIdHint } from './body-limits.js';
import { keyringFor, type Keyring } from './keyring.js';
import { createSlotBudget, type SlotBudget } from './slot-budget.js';
import { resultMetadata } from '../../domain/results.js';

/** First wait before retrying a rejected enqueue; doubles to {@link DELIVERY_RETRY_CAP_MS}. */
export const DELIVERY_RETRY_BASE_MS = 250;
/** Longest wait between enqueue retries. */
export const DELIVERY_RETRY_CAP_MS = 30_000;
/**
 * Most messages waiting between delivery and admission (issue #17 item 1, our choice). Beyond it —
 * or beyond {@link INTAKE_QUEUE_MAX_BYTES} — a replay copy is left unacked (JetStream redelivers it
 * after its ack wait) and a live copy is answered as an admission failure (§7: error log +
 * `command_admission_unavailable`, reason `intake queue full`); never a silent drop.
 */
export const INTAKE_QUEUE_MAX_MESSAGES = 4096;
/** Most body bytes waiting between delivery and admission (our choice; see {@link INTAKE_QUEUE_MAX_MESSAGES}). */
export const INTAKE_QUEUE_MAX_BYTES = 32 * 1024 * 1024;
/**
 * Most admitted runs waiting to start — in the gate check, script fetch, jitter or the slot queue —
 * before a newly admitted command is not run (issue #13 item 7, our choice): its result is exit -1,
 * stderr `refused: local queue full` (contract `LOCAL_QUEUE_FULL_MESSAGE`), through the results outbox
 * like any not-run result. Unit: runs. Each waiting run holds its command (≤ 1 MiB body) in memory.
 */
export const MAX_QUEUED_RUNS = 1024;
/** Messages admitted concurrently, so their ledger writes share fsyncs (group commit). */
export const ADMISSION_BATCH_MAX = 64;
/**
 * Obs events kept in memory when the obs outbox cannot write them (the disk that refused the
 * admission usually refuses the obs file too): published directly to `obs.<pc_id>` (issue #17
 * item 6). Past this many, the oldest is dropped with an error log line.
 */
export const DIRECT_OBS_MAX = 64;
/** Queue-full obs events being queued at once; past it only the log line is written. */
const QUEUE_FULL_OBS_IN_FLIGHT_MAX = 32;
/**
 * Results whose stdout + stderr hold at most this many characters are handed to the outbox through
 * the admission journal (one fdatasync; docs/executor.md, "Result hand-off"); larger ones take the
 * held outbox file, so the journal and the ledger's memory never carry big outputs (our choice).
 */
export const JOURNALED_RESULT_MAX_CHARS = 64 * 1024;
/**
 * How long a handed-off result waits for the fsyncs of its outbox file and its `queued` mark, which
 * are done for every result of that window at once (one directory fsync, one journal fdatasync;
 * most files are published and deleted by then and need none). Off the latency path (our choice).
 */
export const HANDOFF_SETTLE_MS = 200;
/** Handed-off results waiting for that settle beyond which it runs at once (memory: ≤ 64 KiB of output each). */
export const HANDOFF_SETTLE_MAX = 64;
/** How often the ledger is pruned (bounded passes). */
export const LEDGER_PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * Hand-off of admitted commands from the intake to the executor. It outlives the intake actor: a
 * command admitted (ledger `pending`, message acked) while the intake is being stopped by a
 * `broker.disconnected` still reaches the executor, which otherwise would never run it (every later
 * copy is a duplicate). Commands pushed while nobody listens wait in memory for the next listener.
 */
export interface AdmissionSink {
  /** Delivers `admitted` to the listener, or keeps it until one subscribes. */
  push(admitted: AdmittedCommand): void;
  /** Sets the single listener and hands it everything kept so far; returns the unsubscribe function. */
  subscribe(listener: (admitted: AdmittedCommand) => void): () => void;
  /** Whether a listener (a running executor, not a draining one) takes admissions now. */
  listening(): boolean;
}

/** Builds an {@link AdmissionSink}. */
export function createAdmissionSink(): AdmissionSink {
  const kept: AdmittedCommand[] = [];
  let listener: ((admitted: AdmittedCommand) => void) | undefined;
  return {
    push(admitted) {
      if (listener === undefined) kept.push(admitted);
      else listener(admitted);
    },
    subscribe(next) {
      listener = next;
      for (const admitted of kept.splice(0)) next(admitted);
      return () => {
        if (listener === next) listener = undefined;
      };
    },
    listening: () => listener !== undefined,
  };
}

/** The admission queue between delivery and the ledger. */
export interface IntakeStats {
  /** Messages delivered to the intake since start (screened ones included). */
  readonly received: number;
  readonly queued: number;
  readonly queued_bytes: number;
  /** Messages answered with the queue-full flow control since start. */
  readonly refused_queue_full: number;
  /** Why commands are refused now (the ledger cannot write: disk full, read-only …), or null. */
  readonly admission_error: string | null;
  /** Obs events kept in memory for a direct publish because the obs outbox could not write them. */
  readonly direct_obs_waiting: number;
}

/** The executor's shared pieces. */
export interface ExecRuntime {
  readonly services: AgentServices;
  readonly pcId: string;
  readonly log: Logger;
  readonly keyring: Keyring;
  readonly ledger: AdmissionLedger;
  readonly budget: SlotBudget;
  readonly policy: ScriptPolicyReader;
  /** Groups used for addressing (§7); the intake keeps it current. */
  readonly groups: { current: ReadonlySet<string> };
  readonly pipeline: (msg: IntakeMessage | ScreenedMessage) => Promise<IntakeDecision>;
  /**
   * Takes one delivered message (never throws): screened at once, then queued for admission, which
   * goes on whether or not the broker (or the intake that received it) is still there. `ack` is
   * called after the terminal decision; an ack that fails only means a redelivered duplicate.
   */
  submit(msg: IntakeMessage, ack?: () => void): void;
  /** Resolves once every message submitted so far has its decision (shutdown waits for it). */
  intakeSettled(): Promise<void>;
  /** The admission queue, for status. */
  intakeStats(): IntakeStats;
  /** Where the intake hands admitted commands; the executor listens for as long as it is active. */
  readonly admissions: AdmissionSink;
  now(): number;
  /** Queues an obs event (never rejects; a failure is logged). */
  obs(kind: string, source: string, payload: Record<string, unknown>): Promise<void>;
  /** Queues EventStarted (never rejects; a failure is logged, the run goes on). */
  started(event: EventStarted): Promise<void>;
  /**
   * Queues the result, retrying with backoff until the outbox takes it (a result is never dropped),
   * then marks the record finished. If `signal` aborts first (shutdown), the result is stored in the
   * ledger as finished-unqueued, so the next start re-queues it.
   */
  deliverResult(record: AdmissionRecord | undefined, result: ExecResult, signal?: AbortSignal): Promise<void>;
  /** Lets a held result (outbox `<id>.json.held`) be published; never rejects. */
  releaseResult(resultId: string): Promise<void>;
  /**
   * True from a command's admission as `launching` until its result: its gates passed just before
   * admission and it held a slot ever since, so the run checks no gate again (nothing waited).
   */
  launchedAtAdmission(requestId: string): boolean;
  /** Hands that slot to the run (its release function), once; undefined when there is none. */
  takeLaunchSlot(requestId: string): (() => void) | undefined;
  /**
   * Gives back the admission slot of a run that ended without taking it (it crashed before its
   * `holdSlot` started); a no-op once the run took it or delivered its result.
   */
  cancelLaunch(requestId: string): void;
  /** Cap on runs waiting to start ({@link MAX_QUEUED_RUNS}; smaller only in tests). */
  readonly maxQueuedRuns: number;
  /** Stops background timers. */
  close(): void;
}

/** Builds the runtime: loads the keyring, opens the ledger, sizes the budget from effective config. */
export async function createExecRuntime(
  services: AgentServices,
  opts: { now?: () => number; maxQueuedRuns?: number } = {},
): Promise<ExecRuntime> {
  const log = services.log.child({ component: 'executor' });
  const now = opts.now ?? Date.now;
  const keyring = await keyringFor(services);
  const ledger = await openAdmissionLedger(services.config.dataDir, {
    onBadRecord: (file, reason) => log.warn({ file, reason }, 'unreadable admission record skipped'),
    beforeWrite: () => services.failpoints.hit('admission.write'),
    at: (point) => services.failpoints.hit(point),
  });
  const budget = createSlotBudget(services.effectiveConfig.current().max_local_concurrent);
  const unwatchConfig = services.effectiveConfig.watch((config) => budget.resize(config.max_local_concurrent));
  const groups = { current: new Set<string>(services.groups.current()) as ReadonlySet<string> };
  const pcId = services.config.pcId;

  const directObs: ObsEvent[] = [];
  let publishingDirect = false;
  const publishDirect = async () => {
    const state = services.broker.state();
    if (publishingDirect || !state.connected) return;
    publishingDirect = true;
    try {
      while (directObs.length > 0) {
        const event = directObs[0] as ObsEvent;
        await jetstream(state.nc).publish(subjects.obs(pcId), encodeObsEvent(event));
        directObs.shift();
        log.info({ kind: event.kind }, 'obs event published directly (the obs outbox could not write it)');
      }
    } catch (err) {
      log.warn(
        { err: (err as Error).message, waiting: directObs.length },
        'direct obs publish failed; retried on the next reconnect or event',
      );
    } finally {
      publishingDirect = false;
    }
  };
  const unwatchBroker = services.broker.watch((state) => {
    if (state.connected && directObs.length > 0) void publishDirect();
  });
  const obs = async (kind: string, source: string, payload: Record<string, unknown>) => {
    const event: ObsEvent = { pc_id: pcId, at: formatRfc3339(now()), kind, source, event_record_id: uuidV4(), payload };
    try {
      await services.failpoints.hit('obs.enqueue');
      await services.outboxes.obs.enqueue(event);
    } catch (err) {
      log.error({ kind, err: (err as Error).message }, 'cannot queue obs event; publishing it directly from memory');
      if (directObs.length >= DIRECT_OBS_MAX) {
        const dropped = directObs.shift();
        log.error(
          { kind: dropped?.kind, payload: dropped?.payload },
          `more than ${DIRECT_OBS_MAX} obs events wait for a direct publish; the oldest is dropped`,
        );
      }
      directObs.push(event);
      await publishDirect();
    }
  };
  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });

  const results = services.outboxes.results;
  const policy = createScriptPolicyReader(services.broker);
  // Slots taken at admission for commands written straight as `launching` (see `launchNow`).
  const launchSlots = new Map<string, () => void>();
  const launchedAtAdmission = new Set<string>();
  const dropLaunchSlot = (requestId: string) => {
    const release = launchSlots.get(requestId);
    launchSlots.delete(requestId);
    launchedAtAdmission.delete(requestId);
    release?.();
  };
  /**
   * Whether a new command may skip the `pending` record: nothing can make it wait between admission
   * and spawn (inline script, no jitter, a slot free now), it is runnable (run_as system, exec_id a
   * token) and its gates pass now. Then the gates of §8.1 run before admission instead of after it;
   * their order relative to the slot and `launching` is unchanged.
   */
  const launchNow = async (command: Command, receivedAt: string): Promise<boolean> => {
    // A draining (or not yet started) executor would not spawn it: it stays `pending` and runs at the next start.
    if (!admissions.listening()) return false;
    if (command.script_object !== undefined || (command.jitter_secs ?? 0) > 1 || command.run_as !== 'system') return false;
    if (command.exec_id !== undefined && !isSubjectToken(command.exec_id)) return false;
    if (launchedAtAdmission.has(command.request_id)) return false;
    const release = command.bypass_local_limit ? () => undefined : budget.tryAcquire();
    if (release === undefined) return false;
    try {
      const skip = await checkGates(command, receivedAt, services.broker, policy, now());
      if (skip !== undefined) {
        release();
        return false;
      }
    } catch {
      release();
      return false;
    }
    launchSlots.set(command.request_id, release);
    launchedAtAdmission.add(command.request_id);
    return true;
  };
  /** Request ids whose result is between the journal and `queued` (the duplicate path must not queue it again). */
  const delivering = new Set<string>();
  /** Hand-offs waiting for their settle: outbox file fsynced (if still there), then the `queued` mark. */
  const unsettled: Array<{ finished: AdmissionRecord; result: ExecResult; done: () => void }> = [];
  const inFlightSettles = new Set<Promise<void>>();
  let settleTimer: NodeJS.Timeout | undefined;
  const settleNow = () => {
    if (settleTimer !== undefined) clearTimeout(settleTimer);
    settleTimer = undefined;
    const syncQueued = results.syncQueued as (id: string) => Promise<void>;
    // Concurrently, so the directory fsyncs coalesce and the marks share a journal fdatasync.
    for (const entry of unsettled.splice(0)) {
      const settling = (async () => {
        try {
          await syncQueued.call(results, entry.result.result_id);
          await services.failpoints.hit('executor.result_synced');
          await ledger.update(entry.finished, { queued: true, result: resultMetadata(entry.result), result_full: false });
        } catch (err) {
          // The journal still holds the whole result unqueued: the next start (or a duplicate) re-queues it.
          log.error(
            { request_id: entry.result.request_id, err: (err as Error).message },
            'result published but not marked queued; the next start re-queues it (an identical resend)',
          );
        } finally {
          entry.done();
        }
      })();
      inFlightSettles.add(settling);
      void settling.finally(() => inFlightSettles.delete(settling));
    }
  };
  /** Settles now, and waits for, every hand-off not yet settled (shutdown: no resend after a clean stop). */
  const settleAll = async (): Promise<void> => {
    settleNow();
    while (inFlightSettles.size > 0) await Promise.all([...inFlightSettles]);
  };
  /** Resolves once the hand-off of `result` is settled (never rejects). */
  const settleLater = (finished: AdmissionRecord, result: ExecResult) =>
    new Promise<void>((done) => {
      unsettled.push({ finished, result, done });
      if (unsettled.length >= HANDOFF_SETTLE_MAX) settleNow();
      else settleTimer ??= setTimeout(settleNow, HANDOFF_SETTLE_MS);
    });
  /**
   * The result hand-off through the journal: the ledger record `finished` with the whole result is
   * the commit point (one journal fdatasync, shared with concurrent writes); the outbox file is then
   * written without fsync and published at once; the file and directory fsyncs and the `queued` mark
   * follow off the latency path, for a window of results at once ({@link HANDOFF_SETTLE_MS}). Until `queued` is durable, recovery publishes the journal's copy
   * again (an identical resend). When a write fails the held path takes over: `not_journaled` (the
   * record is as it was) or `journaled` (the ledger holds the whole result, unqueued).
   */
  const handOff = async (record: AdmissionRecord, result: ExecResult): Promise<'done' | 'journaled' | 'not_journaled'> => {
    const enqueueUnsynced = results.enqueueUnsynced as (m: ExecResult) => Promise<void>;
    delivering.add(record.request_id);
    try {
      let finished: AdmissionRecord;
      try {
        finished = await ledger.update(record, { state: 'finished', queued: false, result, result_full: true });
      } catch (err) {
        log.error(
          { request_id: result.request_id, err: (err as Error).message },
          'cannot journal the result; queuing it through a held outbox file instead',
        );
        return 'not_journaled';
      }
      log.debug({ request_id: result.request_id }, 'result journaled');
      // The result is durable and the ledger says finished, nothing published yet: the two
      // failpoints of the held path (journal-crash spec) meet here.
      await services.failpoints.hit('executor.result_held');
      await services.failpoints.hit('executor.result_recorded');
      try {
        await enqueueUnsynced.call(results, result);
      } catch (err) {
        log.error(
          { request_id: result.request_id, err: (err as Error).message },
          'cannot write the journaled result to the outbox; queuing it through a held outbox file instead',
        );
        return 'journaled';
      }
      log.debug({ request_id: result.request_id, held: false }, 'result enqueued');
      await services.failpoints.hit('executor.result_enqueued');
      await settleLater(finished, result);
      return 'done';
    } finally {
      delivering.delete(record.request_id);
    }
  };
  const deliverResult = async (record: AdmissionRecord | undefined, result: ExecResult, signal?: AbortSignal) => {
    if (record !== undefined) dropLaunchSlot(record.request_id);
    let journaled = record?.result_full === true;
    if (
      record !== undefined &&
      results.enqueueUnsynced !== undefined &&
      results.syncQueued !== undefined &&
      result.stdout.length + result.stderr.length <= JOURNALED_RESULT_MAX_CHARS
    ) {
      const outcome = await handOff(record, result);
      if (outcome === 'done') return;
      journaled ||= outcome === 'journaled';
    }
    // With a ledger record and a file outbox, the result is written held back from publishing until
    // the ledger says `finished, queued` (issue #17 item 2): a published-and-deleted result can then
    // never meet a ledger still saying `launching`, which recovery would answer with a second
    // outcome (exit 121) under the same result_id.
    const hold = record !== undefined && results.enqueueHeld !== undefined && results.release !== undefined;
    let wait = DELIVERY_RETRY_BASE_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        if (hold) await (results.enqueueHeld as (m: ExecResult) => Promise<void>).call(results, result);
        else await results.enqueue(result);
        break;
      } catch (err) {
        log.error(
          { request_id: result.request_id, attempt, err: (err as Error).message },
          'cannot queue result; keeping it in memory and retrying',
        );
        if (signal?.aborted) {
          // A journaled whole result stays as it is: the next start publishes it from there.
          if (record !== undefined && !journaled) {
            // Metadata only (exit code, times, offload keys): the output never goes into the ledger.
            await ledger
              .update(record, { state: 'finished', queued: false, result: resultMetadata(result) })
              .catch((e: Error) =>
                log.error({ request_id: result.request_id, err: e.message }, 'cannot store the unqueued result in the ledger either'),
              );
          }
          return;
        }
        await sleep(wait, signal);
        wait = Math.min(DELIVERY_RETRY_CAP_MS, wait * 2);
      }
    }
    log.debug({ request_id: result.request_id, held: hold }, 'result enqueued');
    if (record === undefined) return;
    await services.failpoints.hit('executor.result_held');
    wait = DELIVERY_RETRY_BASE_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await ledger.update(record, { state: 'finished', queued: true, result: resultMetadata(result), result_full: false });
        break;
      } catch (err) {
        // Held, the result waits for this write; unheld (test outboxes), recovery finds it by `has`.
        log.error(
          { request_id: result.request_id, attempt, err: (err as Error).message },
          'result queued but the ledger could not record it; retrying',
        );
        if (!hold || signal?.aborted) return;
        await sleep(wait, signal);
        wait = Math.min(DELIVERY_RETRY_CAP_MS, wait * 2);
      }
    }
    await services.failpoints.hit('executor.result_recorded');
    if (hold) await releaseResult(result.result_id);
  };
  /** Releases a held result; a failure leaves it for the next start's recovery (never lost). */
  const releaseResult = async (resultId: string) => {
    try {
      await (results.release as (id: string) => Promise<void>).call(results, resultId);
    } catch (err) {
      log.error({ result_id: resultId, err: (err as Error).message }, 'cannot release the held result; the next start releases it');
    }
  };

  const decide = createIntakePipeline({
    pcId,
    log,
    keyring,
    requireEnvelope: services.config.security.requireEnvelope ?? false,
    ledger,
    groups: () => groups.current,
    now,
    obs,
    enqueueResult: (result) => services.outboxes.results.enqueue(result),
    launchNow,
    cancelLaunch: dropLaunchSlot,
    delivering: (requestId) => delivering.has(requestId),
  });
  // One queue for the whole runtime, not per intake actor: an intake stopped by a disconnect still
  // has its delivered messages admitted (admission needs only the disk; the ack waits for the next
  // connection's redelivery), and the live and replay copies of one request_id meet in the same
  // ledger, which serialises admissions per request_id.
  const intakeLog = log.child({ part: 'intake' });
  const queue: Array<{ screened: ScreenedMessage; ack?: (() => void) | undefined; bytes: number }> = [];
  let queuedBytes = 0;
  let refusedQueueFull = 0;
  let received = 0;
  let queueFullObsInFlight = 0;
  let working: Promise<void> | undefined;
  let admissionError: string | null = null;
  const settle = async (item: { screened: ScreenedMessage; ack?: (() => void) | undefined }) => {
    let decision: IntakeDecision;
    try {
      decision = await decide(item.screened);
    } catch (err) {
      intakeLog.error(
        { err: (err as Error).message, subject: item.screened.msg.subject },
        'intake pipeline failed on a message; not acked',
      );
      return;
    }
    if (decision.outcome === 'unavailable') admissionError = `the admission ledger cannot write: ${decision.reason ?? 'unknown error'}`;
    else if (decision.outcome === 'admitted') admissionError = null;
    // Handed off before the ack and even when the intake was stopped meanwhile: the record is
    // `pending` and later copies are duplicates, so a dropped hand-off would leave it unrun.
    if (decision.admitted !== undefined) admissions.push(decision.admitted);
    if (decision.ack) acknowledge(item.ack, item.screened.msg.subject);
  };
  const acknowledge = (ack: (() => void) | undefined, subject: string) => {
    if (ack === undefined) return;
    try {
      ack();
    } catch (err) {
      intakeLog.warn({ err: (err as Error).message, subject }, 'ack failed; the redelivered copy will be a duplicate');
    }
  };
  const work = async () => {
    while (queue.length > 0) {
      await services.failpoints.hit('intake.batch').catch(() => undefined);
      const batch = queue.splice(0, ADMISSION_BATCH_MAX);
      await Promise.all(batch.map(settle));
      for (const item of batch) queuedBytes -= item.bytes;
    }
  };
  const kick = () => {
    if (working !== undefined) return;
    working = work().finally(() => {
      working = undefined;
      if (queue.length > 0) kick();
    });
  };
  const submit = (msg: IntakeMessage, ack?: () => void) => {
    received += 1;
    const screened = screenMessage(msg, { pcId, log: intakeLog, groups: () => groups.current });
    if (!isScreened(screened)) {
      acknowledge(ack, msg.subject);
      return;
    }
    const bytes = msg.data.length;
    if (queue.length >= INTAKE_QUEUE_MAX_MESSAGES || queuedBytes + bytes > INTAKE_QUEUE_MAX_BYTES) {
      refusedQueueFull += 1;
      const requestId = requestIdHint(screened.parsed);
      const reason = `intake queue full (${queue.length} messages, ${queuedBytes} bytes waiting for admission)`;
      if (ack !== undefined) {
        intakeLog.warn(
          { subject: msg.subject, request_id: requestId, reason },
          'replay copy not admitted now; left unacked so JetStream redelivers it',
        );
        return;
      }
      intakeLog.error({ subject: msg.subject, request_id: requestId, reason }, 'command not admitted: intake queue full');
      if (queueFullObsInFlight < QUEUE_FULL_OBS_IN_FLIGHT_MAX) {
        queueFullObsInFlight += 1;
        void obs('command_admission_unavailable', OBS_SOURCE_ADMISSION, { request_id: requestId, subject: msg.subject, reason }).finally(
          () => {
            queueFullObsInFlight -= 1;
          },
        );
      }
      return;
    }
    // nats.js hands out views into its 64 KiB socket read buffers: a queued view would pin the whole
    // buffer (promoted to the old generation, freed only at a full GC, and a fragmented malloc heap
    // afterwards: #17 item 5). Queue an exact-size copy, so the read buffer dies young.
    const own =
      msg.data.byteLength === msg.data.buffer.byteLength
        ? screened
        : { msg: { ...msg, data: new Uint8Array(msg.data) }, parsed: screened.parsed };
    queue.push({ screened: own, ack, bytes });
    queuedBytes += bytes;
    kick();
  };
  const intakeSettled = async () => {
    while (working !== undefined) await working;
    // Results handed off since (recovery's 121s and re-queues included) get their `queued` mark
    // before the executor stops, instead of a resend at the next start.
    await settleAll();
  };
  const admissions = createAdmissionSink();
  const pipeline = (msg: IntakeMessage | ScreenedMessage): Promise<IntakeDecision> => decide(msg);

  const pruneTimer = setInterval(() => {
    ledger.prune(now()).catch((err: Error) => log.warn({ err: err.message }, 'admission ledger pruning failed'));
  }, LEDGER_PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  await ledger.prune(now()).catch((err: Error) => log.warn({ err: err.message }, 'admission ledger pruning failed'));

  return {
    services,
    pcId,
    log,
    keyring,
    ledger,
    budget,
    groups,
    pipeline,
    now,
    obs,
    submit,
    intakeSettled,
    admissions,
    maxQueuedRuns: opts.maxQueuedRuns ?? MAX_QUEUED_RUNS,
    intakeStats: () => ({
      received,
      queued: queue.length,
      queued_bytes: queuedBytes,
      refused_queue_full: refusedQueueFull,
      admission_error: admissionError,
      direct_obs_waiting: directObs.length,
    }),
    policy,
    async started(event) {
      try {
        await services.outboxes.events.enqueue(event);
      } catch (err) {
        log.error({ request_id: event.request_id, err: (err as Error).message }, 'cannot queue EventStarted');
      }
    },
    deliverResult,
    releaseResult,
    launchedAtAdmission: (requestId) => launchedAtAdmission.has(requestId),
    takeLaunchSlot(requestId) {
      const release = launchSlots.get(requestId);
      launchSlots.delete(requestId);
      return release;
    },
    cancelLaunch: dropLaunchSlot,
    close() {
      // Every run awaited its settle before finishing; nothing is left here but a timer.
      if (settleTimer !== undefined) clearTimeout(settleTimer);
      clearInterval(pruneTimer);
      unwatchBroker();
      unwatchConfig();
    },
  };
}
