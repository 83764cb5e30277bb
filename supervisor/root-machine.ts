/**
 * The root supervisor: spawns every child of `children.ts` in order, restarts crashed children by
 * the rules in `rules.ts` (after a backoff, shown as the `backoff` phase), and stops the tree in
 * reverse order on `shutdown` or when the restart window is exceeded (it then gives up).
 *
 * An errored actor cannot be restarted, so a restart is `stopChild(id)` then a fresh
 * `spawnChild(logic, { id, systemId: id, input: services })`. Time comes from `input.now`
 * (tests pass the SimulatedClock's `now`) so restart windows are testable without sleeping.
 *
 * @example
 * const root = createActor(rootMachine, { input: { services, children: CHILDREN } });
 * root.subscribe({ error: (err) => fatal(err) });
 * root.start();
 * root.send({ type: 'shutdown' });
 */
import { enqueueActions, setup, type AnyActorLogic, type AnyActorRef } from 'xstate';
import { isEscalation } from '../actors/escalation-error.js';
import type { AgentServices, RootServices } from '../actors/ports.js';
import type { ChildSpec } from './child-spec.js';
import {
  DEFAULT_SUPERVISOR_FLAGS,
  backoffAttempt,
  backoffDelayMs,
  childrenToRestart,
  recordRestart,
  shouldGiveUpAtOnce,
  shouldRestart,
  type ExitReason,
  type SupervisorFlags,
} from './rules.js';

/** Whole-tree shutdown budget: contract §8.4 wants exit within 10 s; keep 1 s for closing the rest. */
export const SHUTDOWN_BUDGET_MS = 9_000;

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

/** Why the tree stopped. */
export type StopCause =
  | { readonly kind: 'shutdown' }
  | { readonly kind: 'gave_up'; readonly child: string; readonly reason: string }
  /** A child asked for the process to end with `exit_code` (the updater after a swap: 64). */
  | { readonly kind: 'exit_requested'; readonly child: string; readonly reason: string; readonly exit_code: number };

/** Input of {@link rootMachine}. */
export interface RootInput {
  /** The children's services; the config hubs' write side goes only to the child whose spec asks for it. */
  readonly services: RootServices;
  readonly children: readonly ChildSpec[];
  readonly flags?: SupervisorFlags;
  readonly shutdownBudgetMs?: number;
  /** Clock (epoch ms); `Date.now` by default, `clock.now` under a SimulatedClock. */
  readonly now?: () => number;
  /** Random source for backoff jitter, [0, 1). */
  readonly random?: () => number;
}

interface RootContext {
  readonly services: RootServices;
  readonly specs: readonly ChildSpec[];
  readonly flags: SupervisorFlags;
  readonly shutdownBudgetMs: number;
  readonly now: () => number;
  readonly random: () => number;
  readonly records: Readonly<Record<string, ChildRecord>>;
  /** Restart times inside the sliding window. */
  readonly restartTimes: readonly number[];
  /** Children still to stop, in stop order, and the one being stopped now. */
  readonly stopQueue: readonly string[];
  readonly stoppingChild: string | null;
  readonly stopDeadline: number | null;
  readonly stopCause: StopCause | null;
}

type RootEvent =
  | { type: 'shutdown' }
  | { type: 'child.exited'; id: string; reason: ExitReason; error: string | null }
  | { type: 'child.restart'; id: string }
  | { type: 'child.graceExpired'; id: string }
  | { type: 'supervisor.gaveUp'; child: string; reason: string }
  /** From a child (sendParent): stop the tree gracefully, then exit the process with `code`. */
  | { type: 'exit'; code: number; child: string; reason: string }
  | { type: `xstate.done.actor.${string}`; output?: unknown }
  | { type: `xstate.error.actor.${string}`; error: unknown };

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';

function errorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
}

/**
 * Failpoint `<id>.shutdown` (tests only): the supervisor withholds `shutdown` from the child, as if
 * it ignored it, so its grace expires and it is stopped by force.
 */
function withholdsShutdown(services: AgentServices, id: string): boolean {
  try {
    services.failpoints.hitSync(`${id}.shutdown`);
    return false;
  } catch {
    return true;
  }
}

function patch(context: RootContext, id: string, changes: Partial<ChildRecord>): Record<string, ChildRecord> {
  const current = context.records[id];
  if (current === undefined) return { ...context.records };
  return { ...context.records, [id]: { ...current, ...changes } };
}

/** The root supervisor machine; see the module comment. */
export const rootMachine = setup({
  types: {
    input: {} as RootInput,
    context: {} as RootContext,
    events: {} as RootEvent,
    output: {} as StopCause,
  },
  actions: {
    /** Spawns one child (fresh), or reports a start failure when its `<id>.start` failpoint fires. */
    startChild: enqueueActions(({ context, enqueue }, params: { id: string; restart: boolean }) => {
      const spec = context.specs.find((s) => s.id === params.id);
      if (spec === undefined) return;
      const now = context.now();
      const record = context.records[params.id]!;
      enqueue.assign({
        records: patch(context, params.id, {
          phase: 'running',
          startedAt: now,
          nextRestartAt: null,
          restarts: record.restarts + (params.restart ? 1 : 0),
        }),
      });
      try {
        context.services.failpoints.hitSync(`${spec.id}.start`);
      } catch (error) {
        enqueue.raise({ type: 'child.exited', id: spec.id, reason: 'error', error: errorMessage(error) });
        return;
      }
      // Logic comes from the child list at run time, not from `setup({ actors })`, hence the loose type.
      const spawn = enqueue.spawnChild as unknown as (logic: AnyActorLogic, options: { id: string; systemId: string; input: unknown }) => void;
      const input = spec.input === undefined ? context.services : spec.input(context.services, { now, random: context.random() });
      spawn(spec.logic, { id: spec.id, systemId: spec.id, input });
    }),
    /** Decides what a child's exit means: nothing, a restart after backoff, or giving up. */
    handleExit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'child.exited') return;
      const spec = context.specs.find((s) => s.id === event.id);
      const record = context.records[event.id];
      if (spec === undefined || record === undefined || record.phase !== 'running') return;
      const now = context.now();
      const ranForMs = record.startedAt === null ? 0 : now - record.startedAt;
      const lastExit: ChildExit = { reason: event.reason, at: now, error: event.error };
      enqueue.stopChild(event.id);
      context.services.log[event.reason === 'error' || event.reason === 'escalate' ? 'error' : 'warn'](
        { child: event.id, reason: event.reason, error: event.error, ran_for_ms: ranForMs },
        `child ${event.id} exited (${event.reason})`,
      );
      if (shouldGiveUpAtOnce(event.reason)) {
        enqueue.assign({ records: patch(context, event.id, { phase: 'stopped', startedAt: null, lastExit }) });
        enqueue.raise({ type: 'supervisor.gaveUp', child: event.id, reason: `escalated: ${event.error ?? event.reason}` });
        return;
      }
      if (!shouldRestart(spec.restart, event.reason)) {
        enqueue.assign({ records: patch(context, event.id, { phase: 'stopped', startedAt: null, lastExit }) });
        return;
      }
      const window = recordRestart(context.restartTimes, now, context.flags);
      if (window.giveUp) {
        enqueue.assign({
          restartTimes: window.restartTimes,
          records: patch(context, event.id, { phase: 'stopped', startedAt: null, lastExit }),
        });
        enqueue.raise({
          type: 'supervisor.gaveUp',
          child: event.id,
          reason: `more than ${context.flags.intensity} restarts in ${context.flags.periodMs} ms; last: ${event.error ?? event.reason}`,
        });
        return;
      }
      const attempt = backoffAttempt(record.consecutive, ranForMs, context.flags.backoff);
      const delay = backoffDelayMs(attempt, context.flags.backoff, context.random());
      const order = context.specs.map((s) => s.id);
      let records: Record<string, ChildRecord> = { ...context.records };
      for (const id of childrenToRestart(context.flags.strategy, order, event.id)) {
        const other = records[id];
        if (other === undefined) continue;
        if (id !== event.id) {
          // rest_for_one / one_for_all: dependents are stopped at once (no grace) and restart with the failed child.
          if (other.phase !== 'running') continue;
          enqueue.stopChild(id);
          records = { ...records, [id]: { ...other, phase: 'backoff', startedAt: null, nextRestartAt: now + delay, lastExit: { reason: 'shutdown', at: now, error: `restarted with ${event.id}` } } };
        } else {
          records = { ...records, [id]: { ...other, phase: 'backoff', startedAt: null, lastExit, consecutive: attempt + 1, nextRestartAt: now + delay } };
        }
        enqueue.raise({ type: 'child.restart', id }, { delay, id: `restart:${id}` });
      }
      enqueue.assign({ restartTimes: window.restartTimes, records });
      context.services.log.info({ child: event.id, delay_ms: delay, attempt }, `restarting ${event.id} in ${delay} ms`);
    }),
    /** Turns xstate's done/error events of a child into one `child.exited` event. */
    reportChildEnd: enqueueActions(({ context, event, enqueue }) => {
      if (event.type.startsWith(ERROR_PREFIX)) {
        const id = event.type.slice(ERROR_PREFIX.length);
        const error = (event as { error: unknown }).error;
        enqueue.raise({ type: 'child.exited', id, reason: isEscalation(error) ? 'escalate' : 'error', error: errorMessage(error) });
      } else if (event.type.startsWith(DONE_PREFIX)) {
        const id = event.type.slice(DONE_PREFIX.length);
        const stopping = context.stoppingChild === id || context.records[id]?.phase === 'stopping';
        enqueue.raise({ type: 'child.exited', id, reason: stopping ? 'shutdown' : 'normal', error: null });
      }
    }),
    /** Cancels pending restarts and queues every running child for a stop in reverse start order. */
    beginStop: enqueueActions(({ context, event, enqueue }) => {
      const now = context.now();
      let records: Record<string, ChildRecord> = { ...context.records };
      const queue: string[] = [];
      for (const spec of [...context.specs].reverse()) {
        const record = records[spec.id];
        if (record === undefined) continue;
        if (record.phase === 'backoff') {
          enqueue.cancel(`restart:${spec.id}`);
          records = { ...records, [spec.id]: { ...record, phase: 'stopped', nextRestartAt: null } };
        } else if (record.phase === 'running') {
          queue.push(spec.id);
        }
      }
      const stopCause: StopCause =
        event.type === 'supervisor.gaveUp' ? { kind: 'gave_up', child: event.child, reason: event.reason }
          : event.type === 'exit' ? { kind: 'exit_requested', child: event.child, reason: event.reason, exit_code: event.code }
            : { kind: 'shutdown' };
      if (stopCause.kind === 'gave_up') {
        context.services.log.error({ child: stopCause.child, reason: stopCause.reason }, 'supervisor giving up: stopping the tree');
      } else {
        context.services.log.info({ children: queue }, 'shutdown: stopping children in reverse order');
      }
      enqueue.assign({ records, stopQueue: queue, stoppingChild: null, stopDeadline: now + context.shutdownBudgetMs, stopCause });
    }),
    /** Asks the next child in the stop queue to shut down and arms its grace timer. */
    stopNext: enqueueActions(({ context, enqueue, system }) => {
      if (context.stoppingChild !== null) return;
      const queue = [...context.stopQueue];
      const now = context.now();
      let records: Record<string, ChildRecord> = { ...context.records };
      while (queue.length > 0) {
        const id = queue.shift()!;
        const spec = context.specs.find((s) => s.id === id)!;
        const ref = system.get(id) as AnyActorRef | undefined;
        if (ref === undefined || ref.getSnapshot().status !== 'active') {
          enqueue.stopChild(id);
          records = { ...records, [id]: { ...records[id]!, phase: 'stopped', startedAt: null } };
          continue;
        }
        const grace = Math.max(0, Math.min(spec.shutdownMs, (context.stopDeadline ?? now) - now));
        if (grace === 0) {
          // The budget is spent: no time to ask, stop it by force now.
          enqueue.stopChild(id);
          context.services.log.warn({ child: id }, `shutdown budget spent; stopping ${id} by force`);
          records = { ...records, [id]: { ...records[id]!, phase: 'stopped', startedAt: null, lastExit: { reason: 'killed', at: now, error: 'shutdown budget spent' } } };
          continue;
        }
        records = { ...records, [id]: { ...records[id]!, phase: 'stopping' } };
        if (withholdsShutdown(context.services, id)) {
          context.services.log.warn({ child: id }, `failpoint ${id}.shutdown: not asking ${id} to stop; it will be stopped by force`);
        } else {
          // graceMs: how long this child has before it is stopped by force (the outboxes flush until then).
          enqueue.sendTo(ref, { type: 'shutdown', graceMs: grace });
        }
        enqueue.raise({ type: 'child.graceExpired', id }, { delay: grace, id: `grace:${id}` });
        enqueue.assign({ records, stopQueue: queue, stoppingChild: id });
        return;
      }
      enqueue.assign({ records, stopQueue: queue, stoppingChild: null });
    }),
    /** A child ended while stopping: mark it stopped and move on if it was the one being stopped. */
    markStopped: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'child.exited' && event.type !== 'child.graceExpired') return;
      const record = context.records[event.id];
      if (record === undefined || record.phase === 'stopped') return;
      const now = context.now();
      const lastExit: ChildExit =
        event.type === 'child.graceExpired'
          ? { reason: 'killed', at: now, error: 'did not stop within its shutdown grace' }
          : { reason: event.reason, at: now, error: event.error };
      if (event.type === 'child.graceExpired') {
        context.services.log.warn({ child: event.id }, `child ${event.id} ignored shutdown; stopped by force`);
      } else {
        enqueue.cancel(`grace:${event.id}`);
      }
      enqueue.stopChild(event.id);
      enqueue.assign({
        records: patch(context, event.id, { phase: 'stopped', startedAt: null, lastExit }),
        stopQueue: context.stopQueue.filter((id) => id !== event.id),
        stoppingChild: context.stoppingChild === event.id ? null : context.stoppingChild,
      });
    }),
  },
  guards: {
    allStopped: ({ context }) => context.stoppingChild === null && context.stopQueue.length === 0,
  },
}).createMachine({
  id: 'root',
  context: ({ input }) => ({
    services: input.services,
    specs: input.children,
    flags: input.flags ?? DEFAULT_SUPERVISOR_FLAGS,
    shutdownBudgetMs: input.shutdownBudgetMs ?? SHUTDOWN_BUDGET_MS,
    now: input.now ?? Date.now,
    random: input.random ?? Math.random,
    records: Object.fromEntries(
      input.children.map((spec) => [
        spec.id,
        { id: spec.id, phase: 'stopped', restarts: 0, consecutive: 0, startedAt: null, lastExit: null, nextRestartAt: null } satisfies ChildRecord,
      ]),
    ),
    restartTimes: [],
    stopQueue: [],
    stoppingChild: null,
    stopDeadline: null,
    stopCause: null,
  }),
  initial: 'supervising',
  states: {
    supervising: {
      description: 'Children run; a crash restarts the child after a backoff, unless the restart window is exceeded.',
      entry: enqueueActions(({ context, enqueue }) => {
        for (const spec of context.specs) enqueue({ type: 'startChild', params: { id: spec.id, restart: false } });
      }),
      on: {
        'xstate.done.actor.*': { actions: 'reportChildEnd' },
        'xstate.error.actor.*': { actions: 'reportChildEnd' },
        'child.exited': { actions: 'handleExit' },
        'child.restart': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.records[event.id]?.phase === 'backoff') enqueue({ type: 'startChild', params: { id: event.id, restart: true } });
          }),
        },
        'supervisor.gaveUp': { target: 'stopping' },
        shutdown: { target: 'stopping' },
        exit: { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Stopping children one by one in reverse start order, each within its shutdown grace.',
      tags: ['busy'],
      entry: ['beginStop', 'stopNext'],
      always: { guard: 'allStopped', target: 'stopped' },
      on: {
        'xstate.done.actor.*': { actions: 'reportChildEnd' },
        'xstate.error.actor.*': { actions: 'reportChildEnd' },
        'child.exited': { actions: ['markStopped', 'stopNext'] },
        'child.graceExpired': { actions: ['markStopped', 'stopNext'] },
      },
    },
    stopped: {
      type: 'final',
      description: 'Every child stopped; the output says whether by shutdown or by giving up.',
    },
  },
  output: ({ context }) => context.stopCause ?? { kind: 'shutdown' },
});

/** Type of a running root actor's machine. */
export type RootMachine = typeof rootMachine;
