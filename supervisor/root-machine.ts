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
import { logEffect, type LogLine } from '../machines/log-line.js';
import type { ChildSpec } from './child-spec.js';
import {
  initialRecord,
  planExit,
  planStop,
  recordStart,
  recordStopped,
  stopGraceMs,
  type ChildRecord,
  type Records,
} from './bookkeeping.js';
import { DEFAULT_SUPERVISOR_FLAGS, type ExitReason, type SupervisorFlags } from './rules.js';

export type { ChildExit, ChildPhase, ChildRecord } from './bookkeeping.js';

/** Whole-tree shutdown budget: contract §8.4 wants exit within 10 s; keep 1 s for closing the rest. */
export const SHUTDOWN_BUDGET_MS = 9_000;

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
  readonly records: Records;
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
  return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
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

/** The effect that writes `line` to the root's logger. */
const log = (context: RootContext, line: LogLine) => logEffect(context.services.log, line);

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
      enqueue.assign({ records: recordStart(context.records, params.id, now, params.restart) });
      try {
        context.services.failpoints.hitSync(`${spec.id}.start`);
      } catch (error) {
        enqueue.raise({ type: 'child.exited', id: spec.id, reason: 'error', error: errorMessage(error) });
        return;
      }
      // Logic comes from the child list at run time, not from `setup({ actors })`, hence the loose type.
      const spawn = enqueue.spawnChild as unknown as (
        logic: AnyActorLogic,
        options: { id: string; systemId: string; input: unknown },
      ) => void;
      const input = spec.input === undefined ? context.services : spec.input(context.services, { now, random: context.random() });
      spawn(spec.logic, { id: spec.id, systemId: spec.id, input });
    }),
    /** Carries out {@link planExit}: what a child's exit means (nothing, a restart after backoff, or giving up). */
    handleExit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'child.exited') return;
      const books = { order: context.specs, records: context.records, restartTimes: context.restartTimes, flags: context.flags };
      const plan = planExit(books, event, context.now(), context.random());
      for (const id of plan.stop) enqueue.stopChild(id);
      for (const line of plan.log) enqueue(log(context, line));
      enqueue.assign({ records: plan.records, restartTimes: plan.restartTimes });
      for (const id of plan.restart?.ids ?? [])
        enqueue.raise({ type: 'child.restart', id }, { delay: plan.restart?.delayMs ?? 0, id: `restart:${id}` });
      if (plan.giveUp !== null) enqueue.raise({ type: 'supervisor.gaveUp', ...plan.giveUp });
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
    /** Carries out {@link planStop}: pending restarts cancelled, running children queued in reverse start order. */
    beginStop: enqueueActions(({ context, event, enqueue }) => {
      const plan = planStop(
        context.specs.map((s) => s.id),
        context.records,
      );
      for (const id of plan.cancelRestarts) enqueue.cancel(`restart:${id}`);
      const stopCause: StopCause =
        event.type === 'supervisor.gaveUp'
          ? { kind: 'gave_up', child: event.child, reason: event.reason }
          : event.type === 'exit'
            ? { kind: 'exit_requested', child: event.child, reason: event.reason, exit_code: event.code }
            : { kind: 'shutdown' };
      enqueue(
        log(
          context,
          stopCause.kind === 'gave_up'
            ? {
                level: 'error',
                msg: 'supervisor giving up: stopping the tree',
                fields: { child: stopCause.child, reason: stopCause.reason },
              }
            : { level: 'info', msg: 'shutdown: stopping children in reverse order', fields: { children: plan.queue } },
        ),
      );
      enqueue.assign({
        records: plan.records,
        stopQueue: plan.queue,
        stoppingChild: null,
        stopDeadline: context.now() + context.shutdownBudgetMs,
        stopCause,
      });
    }),
    /** Asks the next child in the stop queue to shut down and arms its grace timer. */
    stopNext: enqueueActions(({ context, enqueue, system }) => {
      if (context.stoppingChild !== null) return;
      const queue = [...context.stopQueue];
      const now = context.now();
      let records: Records = context.records;
      while (queue.length > 0) {
        const id = queue.shift()!;
        const spec = context.specs.find((s) => s.id === id)!;
        const ref = system.get(id) as AnyActorRef | undefined;
        if (ref === undefined || ref.getSnapshot().status !== 'active') {
          enqueue.stopChild(id);
          records = { ...records, [id]: { ...records[id]!, phase: 'stopped', startedAt: null } };
          continue;
        }
        const grace = stopGraceMs(spec.shutdownMs, context.stopDeadline, now);
        if (grace === 0) {
          // The budget is spent: no time to ask, stop it by force now.
          enqueue.stopChild(id);
          enqueue(log(context, { level: 'warn', msg: `shutdown budget spent; stopping ${id} by force`, fields: { child: id } }));
          records = {
            ...records,
            [id]: {
              ...records[id]!,
              phase: 'stopped',
              startedAt: null,
              lastExit: { reason: 'killed', at: now, error: 'shutdown budget spent' },
            },
          };
          continue;
        }
        records = { ...records, [id]: { ...records[id]!, phase: 'stopping' } };
        if (withholdsShutdown(context.services, id)) {
          enqueue(
            log(context, {
              level: 'warn',
              msg: `failpoint ${id}.shutdown: not asking ${id} to stop; it will be stopped by force`,
              fields: { child: id },
            }),
          );
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
    /** A child ended while stopping: mark it stopped ({@link recordStopped}) and move on if it was the one being stopped. */
    markStopped: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'child.exited' && event.type !== 'child.graceExpired') return;
      const record = context.records[event.id];
      if (record === undefined || record.phase === 'stopped') return;
      if (event.type === 'child.graceExpired') {
        enqueue(log(context, { level: 'warn', msg: `child ${event.id} ignored shutdown; stopped by force`, fields: { child: event.id } }));
      } else {
        enqueue.cancel(`grace:${event.id}`);
      }
      enqueue.stopChild(event.id);
      enqueue.assign({
        records: recordStopped(context.records, event.id, event.type === 'child.exited' ? event : null, context.now()),
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
    records: Object.fromEntries(input.children.map((spec): [string, ChildRecord] => [spec.id, initialRecord(spec.id)])),
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
