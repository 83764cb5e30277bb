/**
 * An outbox child (contract §9): drains one outbox directory to JetStream. The drain loop is
 * preparing (creating the directory; retried every tick, never fatal) → draining ⇄ idle, paused
 * while the broker is disconnected; woken at once by `result.enqueued` and by `broker.connected`,
 * and by a 1 s safety tick. A parallel `health` region carries the `degraded` tag while enqueues
 * fail (disk full, read-only), so `kanade-agent status` shows it.
 *
 * The machine holds data only: its effects (`watchOutbox`, `ensureOutboxDir`, `drainBacklog`,
 * actors/outbox/outbox-actors.ts) own the outbox and report the drain's status in their events;
 * supervisor/children.ts provides them (`createOutboxLogic`). Each message inside a pass follows
 * machines/outbox-message-machine.ts. `shutdown` during a pass
 * keeps draining (every due file, and another pass for files enqueued meanwhile, such as the
 * executor's `killed: agent shutting down` results) until the outbox is empty or the grace the
 * supervisor gave it is spent (contract §8.4), then reaches `stopped`. A `progress` region carries
 * `degraded` while a pass holds due work without settling anything (a stalled drain).
 *
 * @example
 * const child = createActor(createOutboxLogic('results'), { input: services }).start(); // supervisor/children.ts
 * child.getSnapshot().context.status; // { depth, in_flight, stuck, … }
 */
import { assign, not, raise, setup } from 'xstate';
import { OUTBOX_TICK_MS, PUB_ACK_TIMEOUT_MS } from '../contract/index.js';
import type { createDrainBacklog, ensureOutboxDir, OutboxActorEvent, watchOutbox } from '../actors/outbox/outbox-actors.js';
import type { OutboxStatus } from '../actors/outbox/drain-stats.js';
import type { OutboxKind } from '../actors/outbox/outbox-kinds.js';
import type { AgentServices } from '../actors/ports.js';
import { notProvided } from './not-provided.js';

/** Flush time on shutdown when the `shutdown` event does not say how long the supervisor waits. */
export const OUTBOX_SHUTDOWN_GRACE_MS = 2_000;
/** Kept back from the supervisor's grace, so the child stops itself instead of being stopped by force. */
export const OUTBOX_STOP_MARGIN_MS = 300;
/**
 * With nothing left on disk, the safety tick is this many times the 1 s tick.
 * Enqueues by this process wake the drain at once, so only files another process drops in (an
 * operator's `kanade-agent outbox retry`) wait up to 30 s; an idle agent saves three directory
 * walks a second, most of its idle CPU (docs/PERFORMANCE.md).
 */
export const OUTBOX_EMPTY_RESCAN_TICKS = 30;

/** `context.status` of an outbox child: the drain figures plus the enqueue error while degraded. */
export interface OutboxChildStatus extends OutboxStatus {
  readonly enqueue_error: string | null;
}

/** Tunables (tests shrink the ack timeout; the bench varies the window, which defaults to the pass's own). */
export interface OutboxMachineOptions {
  readonly ackTimeoutMs?: number;
  readonly window?: number;
}

interface OutboxContext {
  readonly services: AgentServices;
  readonly connected: boolean;
  /** An enqueue (or reconnect) arrived during a pass: walk again at once when it ends. */
  readonly rescan: boolean;
  readonly shuttingDown: boolean;
  readonly status: OutboxChildStatus;
}

/**
 * `shutdown` from the supervisor; `graceMs` is how long it will wait before stopping the child by
 * force. `flush.deadline` is the child's own timer for the end of the flush.
 */
type OutboxEvent = OutboxActorEvent | { readonly type: 'shutdown'; readonly graceMs?: number } | { readonly type: 'flush.deadline' };

/** How long the shutdown flush may last, from the supervisor's grace (margin kept) or the default. */
export function flushGraceMs(graceMs: number | undefined): number {
  if (graceMs === undefined || !Number.isFinite(graceMs)) return OUTBOX_SHUTDOWN_GRACE_MS;
  return Math.max(0, Math.floor(graceMs) - OUTBOX_STOP_MARGIN_MS);
}

/** The drain status an event carries: ensureOutboxDir's output, or the `status` of an actor's event. */
function drainStatusOf(event: { readonly type: string }): Partial<OutboxStatus> | undefined {
  const { output, status } = event as { output?: unknown; status?: unknown };
  const found = event.type.startsWith('xstate.done.actor.') ? output : status;
  return typeof found === 'object' && found !== null ? (found as Partial<OutboxStatus>) : undefined;
}

/** The directory a failed ensureOutboxDir names (its OutboxDirUnavailableError), if any. */
function dirOf(error: unknown): string | undefined {
  const dir = typeof error === 'object' && error !== null ? (error as { dir?: unknown }).dir : undefined;
  return typeof dir === 'string' ? dir : undefined;
}

const EMPTY_STATUS: OutboxChildStatus = {
  depth: 0,
  in_flight: 0,
  stuck: 0,
  oldest_age_ms: null,
  oldest_due_age_ms: null,
  stalled_ms: 0,
  last_ack_latency_ms: null,
  last_error: null,
  enqueue_error: null,
};

/** Builds the child machine of outbox `kind` (`outbox-results`, `outbox-events`, `outbox-obs`). */
export function createOutboxMachine(kind: OutboxKind, options: OutboxMachineOptions = {}) {
  const ackTimeoutMs = options.ackTimeoutMs ?? PUB_ACK_TIMEOUT_MS;
  const window = options.window;
  // Every publish settles within the ack timeout; twice that without settling anything is a stall.
  const stallMs = 2 * ackTimeoutMs;
  return setup({
    types: {
      input: {} as AgentServices,
      context: {} as OutboxContext,
      events: {} as OutboxEvent,
    },
    actors: {
      watchOutbox: notProvided<typeof watchOutbox>('watchOutbox'),
      ensureOutboxDir: notProvided<typeof ensureOutboxDir>('ensureOutboxDir'),
      drainBacklog: notProvided<ReturnType<typeof createDrainBacklog>>('drainBacklog'),
    },
    actions: {
      // (watchOutbox wakes parked files before it reports a reconnect, §4 "woken on reconnect".)
      markConnected: assign({ connected: true }),
      markDisconnected: assign({ connected: false }),
      requestRescan: assign({ rescan: true }),
      clearRescan: assign({ rescan: false }),
      markShuttingDown: assign({ shuttingDown: true }),
      scheduleFlushDeadline: raise(
        { type: 'flush.deadline' },
        {
          id: 'flushDeadline',
          delay: ({ event }) => flushGraceMs(event.type === 'shutdown' ? event.graceMs : undefined),
        },
      ),
      // `depth` as last reported (a flushing pass reports at least every second).
      logFlushDeadline: ({ context }) =>
        context.services.log.warn(
          { outbox: kind, depth: context.status.depth },
          'shutdown: outbox flush time spent; the rest stays on disk for the next start',
        ),
      // The drain's status as the event carries it (ensureOutboxDir's output, or a `status` field).
      refreshStatus: assign(({ context, event }) => {
        const status = drainStatusOf(event);
        return status === undefined ? {} : { status: { ...context.status, ...status } };
      }),
      takeProgress: assign(({ context, event }) =>
        event.type === 'outbox.progress' ? { status: { ...context.status, ...event.status } } : {},
      ),
      noteEnqueueFailure: assign(({ context, event }) =>
        event.type === 'enqueue.failed' ? { status: { ...context.status, enqueue_error: event.error } } : {},
      ),
      clearEnqueueFailure: assign(({ context }) => ({ status: { ...context.status, enqueue_error: null } })),
      noteError: assign(({ context, event }) => {
        const error = (event as { error?: unknown }).error;
        return { status: { ...context.status, last_error: error instanceof Error ? error.message : String(error) } };
      }),
      logDirUnavailable: ({ context, event }) => {
        const { error, dir } = event as { error?: unknown; dir?: unknown };
        context.services.log.warn(
          { outbox: kind, dir: dir ?? dirOf(error), err: error instanceof Error ? error.message : String(error) },
          'outbox directory unavailable; retrying every tick',
        );
      },
    },
    guards: {
      brokerDown: ({ context }) => !context.connected,
      rescanRequested: ({ context }) => context.rescan,
      shuttingDown: ({ context }) => context.shuttingDown,
      flushAgain: ({ context }) => context.shuttingDown && context.rescan,
      drainStalled: ({ event }) => event.type === 'outbox.progress' && event.status.stalled_ms >= stallMs,
      drainMoving: not('drainStalled'),
    },
    delays: {
      tick: OUTBOX_TICK_MS,
      safetyTick: ({ context }) => (context.status.depth > 0 ? OUTBOX_TICK_MS : OUTBOX_TICK_MS * OUTBOX_EMPTY_RESCAN_TICKS),
    },
  }).createMachine({
    id: `outbox-${kind}`,
    context: ({ input }) => ({
      services: input,
      connected: input.broker.state().connected,
      rescan: false,
      shuttingDown: false,
      status: EMPTY_STATUS,
    }),
    invoke: { id: 'watchOutbox', src: 'watchOutbox', input: ({ context }) => ({ services: context.services, kind }) },
    initial: 'running',
    states: {
      running: {
        type: 'parallel',
        on: {
          'broker.connected': { actions: 'markConnected' },
          'broker.disconnected': { actions: 'markDisconnected' },
          'outbox.progress': { actions: 'takeProgress' },
          'flush.deadline': { target: '#outbox-' + kind + '.stopped', actions: 'logFlushDeadline' },
        },
        states: {
          drain: {
            initial: 'preparing',
            states: {
              preparing: {
                description: 'Creating the outbox directory (and counting stuck/).',
                invoke: {
                  id: 'ensureOutboxDir',
                  src: 'ensureOutboxDir',
                  input: ({ context }) => ({ services: context.services, kind }),
                  onDone: [
                    { guard: 'brokerDown', target: 'paused', actions: 'refreshStatus' },
                    { target: 'draining', actions: 'refreshStatus' },
                  ],
                  onError: { target: 'dirUnavailable', actions: ['logDirUnavailable', 'noteError'] },
                },
                on: { shutdown: { target: '#outbox-' + kind + '.stopped' } },
              },
              dirUnavailable: {
                description: 'The directory cannot be created; retried every tick, never fatal. Enqueues fail meanwhile.',
                tags: ['degraded'],
                after: { tick: 'preparing' },
                on: { shutdown: { target: '#outbox-' + kind + '.stopped' } },
              },
              idle: {
                description:
                  'Nothing due; a pass starts on enqueue, reconnect, or the safety tick: 1 s while files remain, 30 s when the outbox is empty.',
                after: { safetyTick: 'draining' },
                on: {
                  'result.enqueued': { target: 'draining', actions: 'refreshStatus' },
                  'broker.disconnected': { target: 'paused', actions: 'markDisconnected' },
                  shutdown: { target: '#outbox-' + kind + '.stopped' },
                },
              },
              draining: {
                description: 'One pass: the directory streamed oldest first, up to the window of messages in flight.',
                tags: ['busy'],
                entry: 'clearRescan',
                invoke: {
                  id: 'drainBacklog',
                  src: 'drainBacklog',
                  input: ({ context }) => ({ services: context.services, kind, window, ackTimeoutMs }),
                },
                initial: 'walking',
                states: {
                  walking: {
                    always: { guard: 'shuttingDown', target: 'flushing' },
                    on: {
                      'result.enqueued': { actions: 'requestRescan' },
                      shutdown: { target: 'flushing', actions: ['markShuttingDown', 'scheduleFlushDeadline'] },
                    },
                  },
                  flushing: {
                    description:
                      'Shutting down: the pass keeps publishing every due file, and files enqueued meanwhile get another pass, until the outbox is empty or the flush time (the supervisor grace minus a margin) is spent.',
                    on: { 'result.enqueued': { actions: 'requestRescan' } },
                  },
                },
                on: {
                  'drain.finished': [
                    { guard: 'flushAgain', target: 'draining', reenter: true, actions: 'refreshStatus' },
                    { guard: 'shuttingDown', target: '#outbox-' + kind + '.stopped', actions: 'refreshStatus' },
                    { guard: 'rescanRequested', target: 'draining', reenter: true, actions: 'refreshStatus' },
                    { target: 'idle', actions: 'refreshStatus' },
                  ],
                  'drain.failed': [
                    { guard: 'shuttingDown', target: '#outbox-' + kind + '.stopped' },
                    { target: 'dirUnavailable', actions: ['logDirUnavailable', 'noteError'] },
                  ],
                  'broker.disconnected': [
                    { guard: 'shuttingDown', target: '#outbox-' + kind + '.stopped' },
                    { target: 'paused', actions: ['markDisconnected', 'refreshStatus'] },
                  ],
                },
              },
              paused: {
                description: 'The broker is disconnected: nothing is published; files wait on disk.',
                on: {
                  'broker.connected': { target: 'draining', actions: 'markConnected' },
                  shutdown: { target: '#outbox-' + kind + '.stopped' },
                },
              },
            },
          },
          health: {
            initial: 'healthy',
            states: {
              healthy: {
                tags: ['healthy'],
                on: { 'enqueue.failed': { target: 'degraded', actions: 'noteEnqueueFailure' } },
              },
              degraded: {
                description: 'The last enqueue failed (disk full, read-only, permissions): callers keep their results and retry.',
                tags: ['degraded'],
                on: {
                  'enqueue.failed': { actions: 'noteEnqueueFailure' },
                  'enqueue.succeeded': { target: 'healthy', actions: 'clearEnqueueFailure' },
                },
              },
            },
          },
          progress: {
            initial: 'moving',
            states: {
              moving: {
                on: { 'outbox.progress': { guard: 'drainStalled', target: 'stalled', actions: 'takeProgress' } },
              },
              stalled: {
                description:
                  'A pass has held due work for twice the ack timeout without settling any message (a hung read or list); `stalled_ms` and `oldest_due_age_ms` in status say how long.',
                tags: ['degraded'],
                on: {
                  'outbox.progress': [{ guard: 'drainMoving', target: 'moving', actions: 'takeProgress' }, { actions: 'takeProgress' }],
                  'drain.finished': 'moving',
                  'drain.failed': 'moving',
                  'broker.disconnected': 'moving',
                },
              },
            },
          },
        },
      },
      stopped: {
        type: 'final',
      },
    },
  });
}

/** The results outbox machine (the inspector draws this one; events and obs are the same chart). */
export const outboxMachine = createOutboxMachine('results');
