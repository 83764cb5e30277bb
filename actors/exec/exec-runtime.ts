/**
 * The executor's shared, process-wide pieces: keyring, admission ledger, slot budget, policy
 * reader, the intake pipeline and durable result delivery. Built once by the `executor` child and
 * handed to every `commandRun` actor; none of it lives in machine context as data.
 */
import type { Logger } from 'pino';
import {
  formatRfc3339, type EventStarted, type ExecResult, type ObsEvent,
} from '../../contract/index.js';
import { uuidV4 } from '../ids.js';
import type { AgentServices } from '../ports.js';
import { openAdmissionLedger, type AdmissionLedger, type AdmissionRecord } from './admission-ledger.js';
import { createScriptPolicyReader, type ScriptPolicyReader } from './gates.js';
import { createIntakePipeline, type AdmittedCommand, type IntakeDecision, type IntakeMessage } from './intake-pipeline.js';
import { keyringFor, type Keyring } from './keyring.js';
import { createSlotBudget, type SlotBudget } from './slot-budget.js';

/** First wait before retrying a rejected enqueue; doubles to {@link DELIVERY_RETRY_CAP_MS}. */
export const DELIVERY_RETRY_BASE_MS = 250;
/** Longest wait between enqueue retries. */
export const DELIVERY_RETRY_CAP_MS = 30_000;
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
  };
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
  readonly pipeline: (msg: IntakeMessage) => Promise<IntakeDecision>;
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
  /** Stops background timers. */
  close(): void;
}

/** Builds the runtime: loads the keyring, opens the ledger, sizes the budget from effective config. */
export async function createExecRuntime(services: AgentServices, opts: { now?: () => number } = {}): Promise<ExecRuntime> {
  const log = services.log.child({ component: 'executor' });
  const now = opts.now ?? Date.now;
  const keyring = await keyringFor(services);
  const ledger = await openAdmissionLedger(services.config.dataDir, {
    onBadRecord: (file, reason) => log.warn({ file, reason }, 'unreadable admission record skipped'),
    beforeWrite: () => services.failpoints.hit('admission.write'),
  });
  const budget = createSlotBudget(services.effectiveConfig.current().max_local_concurrent);
  const unwatchConfig = services.effectiveConfig.watch((config) => budget.resize(config.max_local_concurrent));
  const groups = { current: new Set<string>(services.groups.current()) as ReadonlySet<string> };
  const pcId = services.config.pcId;

  const obs = async (kind: string, source: string, payload: Record<string, unknown>) => {
    const event: ObsEvent = { pc_id: pcId, at: formatRfc3339(now()), kind, source, event_record_id: uuidV4(), payload };
    try {
      await services.outboxes.obs.enqueue(event);
    } catch (err) {
      log.error({ kind, err: (err as Error).message }, 'cannot queue obs event');
    }
  };
  const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });

  const deliverResult = async (record: AdmissionRecord | undefined, result: ExecResult, signal?: AbortSignal) => {
    let wait = DELIVERY_RETRY_BASE_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await services.outboxes.results.enqueue(result);
        break;
      } catch (err) {
        log.error({ request_id: result.request_id, attempt, err: (err as Error).message }, 'cannot queue result; keeping it in memory and retrying');
        if (signal?.aborted) {
          if (record !== undefined) {
            await ledger.update(record, { state: 'finished', queued: false, result }).catch((e: Error) =>
              log.error({ request_id: result.request_id, err: e.message }, 'cannot store the unqueued result in the ledger either'));
          }
          return;
        }
        await sleep(wait, signal);
        wait = Math.min(DELIVERY_RETRY_CAP_MS, wait * 2);
      }
    }
    log.debug({ request_id: result.request_id }, 'result enqueued');
    if (record === undefined) return;
    try {
      await ledger.update(record, { state: 'finished', queued: true, result });
    } catch (err) {
      // The result is queued; at the next start recovery finds it in the outbox and only marks the
      // record. Once published, a stale record yields an exit-121 with the same result_id, which
      // the backend ignores for a finished row.
      log.error({ request_id: result.request_id, err: (err as Error).message }, 'result queued but the ledger could not record it');
    }
  };

  const decide = createIntakePipeline({
    pcId,
    log,
    keyring,
    ledger,
    groups: () => groups.current,
    now,
    obs,
    enqueueResult: (result) => services.outboxes.results.enqueue(result),
  });
  // One chain for the whole runtime, not per intake actor: an intake stopped by a disconnect may
  // still be inside `ledger.admit` when the re-entered intake gets the replay copy of the same
  // request_id; serialised, that copy is a duplicate instead of a second admission.
  let pipelineChain: Promise<unknown> = Promise.resolve();
  const pipeline = (msg: IntakeMessage): Promise<IntakeDecision> => {
    const run = pipelineChain.then(() => decide(msg));
    pipelineChain = run.catch(() => undefined);
    return run;
  };

  const pruneTimer = setInterval(() => {
    ledger.prune(now()).catch((err: Error) => log.warn({ err: err.message }, 'admission ledger pruning failed'));
  }, LEDGER_PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  await ledger.prune(now()).catch((err: Error) => log.warn({ err: err.message }, 'admission ledger pruning failed'));

  return {
    services, pcId, log, keyring, ledger, budget, groups, pipeline, now, obs,
    admissions: createAdmissionSink(),
    policy: createScriptPolicyReader(services.broker),
    async started(event) {
      try {
        await services.outboxes.events.enqueue(event);
      } catch (err) {
        log.error({ request_id: event.request_id, err: (err as Error).message }, 'cannot queue EventStarted');
      }
    },
    deliverResult,
    close() {
      clearInterval(pruneTimer);
      unwatchConfig();
    },
  };
}

