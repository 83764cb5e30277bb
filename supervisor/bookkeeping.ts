/**
 * The root supervisor's bookkeeping as pure functions: what a child's exit, a stop request and a
 * stopped child do to the records, as data the root machine then carries out (stop these actors,
 * raise these events, write these log lines). Each is table-tested in
 * spec/supervisor/bookkeeping.spec.ts; the decisions themselves come from `rules.ts`.
 *
 * @example
 * const plan = planExit(books, { id: 'heartbeat', reason: 'error', error: 'boom' }, now, 0.5);
 * // plan.restart → { ids: ['heartbeat'], delayMs: 250 }; plan.records.heartbeat.phase === 'backoff'
 */
import type { LogLine } from '../machines/log-line.js';
import type { RestartType } from './child-spec.js';
import {
  backoffAttempt,
  backoffDelayMs,
  childrenToRestart,
  recordRestart,
  shouldGiveUpAtOnce,
  shouldRestart,
  type ExitReason,
  type SupervisorFlags,
} from './rules.js';

/** Where a child is in its life: `backoff` = crashed, waiting to restart. */
export type ChildPhase = 'running' | 'backoff' | 'stopping' | 'stopped';

/** How a child last ended. */
export interface ChildExit {
  readonly reason: ExitReason | 'killed';
  /** Epoch ms. */
  readonly at: number;
  /** The error message of a crash, else null. */
  readonly error: string | null;
}

/** The supervisor's book-keeping for one child (its live state lives in the child actor). */
export interface ChildRecord {
  readonly id: string;
  readonly phase: ChildPhase;
  /** Restarts since the agent started. */
  readonly restarts: number;
  /** Restarts in a row without a stable run; drives the backoff. */
  readonly consecutive: number;
  /** When the current incarnation started (epoch ms), null when not running. */
  readonly startedAt: number | null;
  readonly lastExit: ChildExit | null;
  /** Epoch ms of the scheduled restart while in `backoff`. */
  readonly nextRestartAt: number | null;
}

/** Records by child id. */
export type Records = Readonly<Record<string, ChildRecord>>;

/** What the bookkeeping reads: the children in start order (id and restart type), the records, the restart window. */
export interface Books {
  readonly order: ReadonlyArray<{ readonly id: string; readonly restart: RestartType }>;
  readonly records: Records;
  readonly restartTimes: readonly number[];
  readonly flags: SupervisorFlags;
}

/** A child's exit as the root sees it (`child.exited`). */
export interface Exit {
  readonly id: string;
  readonly reason: ExitReason;
  readonly error: string | null;
}

/** What to do about one exit. */
export interface ExitPlan {
  readonly records: Records;
  readonly restartTimes: readonly number[];
  /** Actors to stop now (the exited child, and dependents under rest_for_one / one_for_all). */
  readonly stop: readonly string[];
  /** Children to start again after `delayMs`, or null. */
  readonly restart: { readonly ids: readonly string[]; readonly delayMs: number } | null;
  /** Give up on the tree with this reason, or null. */
  readonly giveUp: { readonly child: string; readonly reason: string } | null;
  readonly log: readonly LogLine[];
}

/** A fresh record: not started yet. */
export function initialRecord(id: string): ChildRecord {
  return { id, phase: 'stopped', restarts: 0, consecutive: 0, startedAt: null, lastExit: null, nextRestartAt: null };
}

function patch(records: Records, id: string, changes: Partial<ChildRecord>): Records {
  const current = records[id];
  return current === undefined ? records : { ...records, [id]: { ...current, ...changes } };
}

/** A child starts (first time or restart) at `now`. */
export function recordStart(records: Records, id: string, now: number, restart: boolean): Records {
  const record = records[id];
  if (record === undefined) return records;
  return patch(records, id, { phase: 'running', startedAt: now, nextRestartAt: null, restarts: record.restarts + (restart ? 1 : 0) });
}

/**
 * OTP's `handle_info({'EXIT', …})` for a running child: nothing, a restart after backoff (of the
 * children the strategy names), or giving up (escalation, or the restart window exceeded).
 * Exits of children that are not running (already stopping or stopped) change nothing.
 */
export function planExit(books: Books, exit: Exit, now: number, random01: number): ExitPlan {
  const spec = books.order.find((s) => s.id === exit.id);
  const record = books.records[exit.id];
  const unchanged: ExitPlan = { records: books.records, restartTimes: books.restartTimes, stop: [], restart: null, giveUp: null, log: [] };
  if (spec === undefined || record === undefined || record.phase !== 'running') return unchanged;
  const ranForMs = record.startedAt === null ? 0 : now - record.startedAt;
  const lastExit: ChildExit = { reason: exit.reason, at: now, error: exit.error };
  const exitLine: LogLine = {
    level: exit.reason === 'error' || exit.reason === 'escalate' ? 'error' : 'warn',
    msg: `child ${exit.id} exited (${exit.reason})`,
    fields: { child: exit.id, reason: exit.reason, error: exit.error, ran_for_ms: ranForMs },
  };
  const stopped = patch(books.records, exit.id, { phase: 'stopped', startedAt: null, lastExit });
  if (shouldGiveUpAtOnce(exit.reason)) {
    return {
      ...unchanged,
      records: stopped,
      stop: [exit.id],
      giveUp: { child: exit.id, reason: `escalated: ${exit.error ?? exit.reason}` },
      log: [exitLine],
    };
  }
  if (!shouldRestart(spec.restart, exit.reason)) {
    return { ...unchanged, records: stopped, stop: [exit.id], log: [exitLine] };
  }
  const window = recordRestart(books.restartTimes, now, books.flags);
  if (window.giveUp) {
    return {
      ...unchanged,
      records: stopped,
      restartTimes: window.restartTimes,
      stop: [exit.id],
      giveUp: {
        child: exit.id,
        reason: `more than ${books.flags.intensity} restarts in ${books.flags.periodMs} ms; last: ${exit.error ?? exit.reason}`,
      },
      log: [exitLine],
    };
  }
  const attempt = backoffAttempt(record.consecutive, ranForMs, books.flags.backoff);
  const delayMs = backoffDelayMs(attempt, books.flags.backoff, random01);
  const stop: string[] = [exit.id];
  const ids: string[] = [];
  let records = books.records;
  for (const id of childrenToRestart(
    books.flags.strategy,
    books.order.map((s) => s.id),
    exit.id,
  )) {
    const other = records[id];
    if (other === undefined) continue;
    if (id === exit.id) {
      records = patch(records, id, { phase: 'backoff', startedAt: null, lastExit, consecutive: attempt + 1, nextRestartAt: now + delayMs });
    } else {
      // rest_for_one / one_for_all: dependents are stopped at once (no grace) and restart with the failed child.
      if (other.phase !== 'running') continue;
      stop.push(id);
      records = patch(records, id, {
        phase: 'backoff',
        startedAt: null,
        nextRestartAt: now + delayMs,
        lastExit: { reason: 'shutdown', at: now, error: `restarted with ${exit.id}` },
      });
    }
    ids.push(id);
  }
  return {
    records,
    restartTimes: window.restartTimes,
    stop,
    restart: { ids, delayMs },
    giveUp: null,
    log: [
      exitLine,
      { level: 'info', msg: `restarting ${exit.id} in ${delayMs} ms`, fields: { child: exit.id, delay_ms: delayMs, attempt } },
    ],
  };
}

/** What stopping the tree starts with. */
export interface StopPlan {
  readonly records: Records;
  /** Running children to stop one by one, in reverse start order. */
  readonly queue: readonly string[];
  /** Children whose pending restart is cancelled (they were in backoff). */
  readonly cancelRestarts: readonly string[];
}

/** OTP `terminate_children`: pending restarts are cancelled, running children queued in reverse start order. */
export function planStop(order: readonly string[], records: Records): StopPlan {
  let next = records;
  const queue: string[] = [];
  const cancelRestarts: string[] = [];
  for (const id of [...order].reverse()) {
    const record = next[id];
    if (record === undefined) continue;
    if (record.phase === 'backoff') {
      cancelRestarts.push(id);
      next = patch(next, id, { phase: 'stopped', nextRestartAt: null });
    } else if (record.phase === 'running') {
      queue.push(id);
    }
  }
  return { records: next, queue, cancelRestarts };
}

/** The grace a child gets when asked to stop: its own, but never past the tree's deadline (0: stop by force). */
export function stopGraceMs(shutdownMs: number, deadline: number | null, now: number): number {
  return Math.max(0, Math.min(shutdownMs, (deadline ?? now) - now));
}

/** A child being stopped ended (`exit`), or its grace expired (`null`: it is stopped by force). */
export function recordStopped(records: Records, id: string, exit: Exit | null, now: number): Records {
  const record = records[id];
  if (record === undefined || record.phase === 'stopped') return records;
  const lastExit: ChildExit =
    exit === null
      ? { reason: 'killed', at: now, error: 'did not stop within its shutdown grace' }
      : { reason: exit.reason, at: now, error: exit.error };
  return patch(records, id, { phase: 'stopped', startedAt: null, lastExit });
}
