/**
 * An outbox child (contract §9): drains one outbox directory to JetStream. The drain loop is
 * preparing (creating the directory; retried every tick, never fatal) → draining ⇄ idle, paused
 * while the broker is disconnected; woken at once by `result.enqueued` and by `broker.connected`,
 * and by a 1 s safety tick. A parallel `health` region carries the `degraded` tag while enqueues
 * fail (disk full, read-only), so `kanade-agent status` shows it.
 *
 * Each message inside a pass follows machines/outbox-message-machine.ts. `shutdown` lets the
 * messages in flight settle (bounded) and reaches `stopped`.
 *
 * @example
 * const child = createActor(createOutboxMachine('results'), { input: services }).start();
 * child.getSnapshot().context.status; // { depth, in_flight, stuck, … }
 */
import { assign, sendTo, setup, type EventObject } from 'xstate';
import { OUTBOX_TICK_MS, PUB_ACK_TIMEOUT_MS } from '../contract/index.js';
import { drainableOutbox, type DrainableOutbox } from '../actors/outbox/create-outboxes.js';
import { drainBacklog, ensureOutboxDir, watchOutbox, type OutboxActorEvent } from '../actors/outbox/outbox-actors.js';
import { OUTBOX_PUBLISH_WINDOW, type OutboxStatus } from '../actors/outbox/outbox-drain.js';
import type { OutboxKind } from '../actors/outbox/outbox-kinds.js';
import type { AgentServices } from '../actors/ports.js';
import { createOutboxMessageRunner } from './outbox-message-machine.js';

/** Longest wait on shutdown for messages in flight to get their PubAck. */
export const OUTBOX_SHUTDOWN_GRACE_MS = 2_000;
/**
 * With nothing left on disk, the safety tick is this many times the 1 s tick.
 * Enqueues by this process wake the drain at once, so only files another process drops in (an
 * operator's `kanade-agent outbox retry`) wait up to 30 s; an idle agent saves three directory
 * walks a second, most of its idle CPU (docs/PERFORMANCE.md).
 */
export const OUTBOX_EMPTY_RESCAN_TICKS = 30;

/** The supervisor's grace for an outbox child: the drain grace plus a margin. */
export const OUTBOX_CHILD_SHUTDOWN_MS = OUTBOX_SHUTDOWN_GRACE_MS + 1_000;

/** `context.status` of an outbox child: the drain figures plus the enqueue error while degraded. */
export interface OutboxChildStatus extends OutboxStatus {
  readonly enqueue_error: string | null;
}

/** Tunables (tests shrink the ack timeout; the bench varies the window). */
export interface OutboxMachineOptions {
  readonly ackTimeoutMs?: number;
  readonly window?: number;
}

interface OutboxContext {
  readonly services: AgentServices;
  readonly outbox: DrainableOutbox<unknown>;
  readonly connected: boolean;
  /** An enqueue (or reconnect) arrived during a pass: walk again at once when it ends. */
  readonly rescan: boolean;
  readonly shuttingDown: boolean;
  readonly status: OutboxChildStatus;
}

type OutboxEvent = OutboxActorEvent | { readonly type: 'shutdown' };

const EMPTY_STATUS: OutboxChildStatus = {
  depth: 0,
  in_flight: 0,
  stuck: 0,
  oldest_age_ms: null,
  last_ack_latency_ms: null,
  last_error: null,
  enqueue_error: null,
};

/** Builds the child machine of outbox `kind` (`outbox-results`, `outbox-events`, `outbox-obs`). */
export function createOutboxMachine(kind: OutboxKind, options: OutboxMachineOptions = {}) {
  const ackTimeoutMs = options.ackTimeoutMs ?? PUB_ACK_TIMEOUT_MS;
  const window = options.window ?? OUTBOX_PUBLISH_WINDOW;
  return setup({
    types: {
      input: {} as AgentServices,
      context: {} as OutboxContext,
      events: {} as OutboxEvent,
    },
    actors: { watchOutbox, ensureOutboxDir, drainBacklog },
    actions: {
      markConnected: assign({ connected: true }),
      // A reconnect may be what parked files waited for (§4 "woken on reconnect"): make them due now.
      wakeParkedFiles: ({ context }) => context.outbox.drain.wakeParked(),
      markDisconnected: assign({ connected: false }),
      requestRescan: assign({ rescan: true }),
      clearRescan: assign({ rescan: false }),
      markShuttingDown: assign({ shuttingDown: true }),
      refreshStatus: assign(({ context }) => ({ status: { ...context.status, ...context.outbox.drain.status() } })),
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
        const error = (event as { error?: unknown }).error;
        context.services.log.warn(
          { outbox: kind, dir: context.outbox.store.dir, err: error instanceof Error ? error.message : String(error) },
          'outbox directory unavailable; retrying every tick',
        );
      },
      finishInFlight: sendTo('drainBacklog', { type: 'drain.finish' } as EventObject),
    },
    guards: {
      brokerDown: ({ context }) => !context.connected,
      rescanRequested: ({ context }) => context.rescan,
      shuttingDown: ({ context }) => context.shuttingDown,
    },
    delays: {
      tick: OUTBOX_TICK_MS,
      safetyTick: ({ context }) => (context.status.depth > 0 ? OUTBOX_TICK_MS : OUTBOX_TICK_MS * OUTBOX_EMPTY_RESCAN_TICKS),
      shutdownGrace: OUTBOX_SHUTDOWN_GRACE_MS,
    },
  }).createMachine({
    id: `outbox-${kind}`,
    context: ({ input }) => ({
      services: input,
      outbox: drainableOutbox(input.outboxes[kind] as never) as DrainableOutbox<unknown>,
      connected: input.broker.state().connected,
      rescan: false,
      shuttingDown: false,
      status: EMPTY_STATUS,
    }),
    invoke: { id: 'watchOutbox', src: 'watchOutbox', input: ({ context }) => ({ services: context.services, outbox: context.outbox }) },
    initial: 'running',
    states: {
      running: {
        type: 'parallel',
        on: {
          'broker.connected': { actions: ['markConnected', 'wakeParkedFiles'] },
          'broker.disconnected': { actions: 'markDisconnected' },
          'outbox.progress': { actions: 'takeProgress' },
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
                  input: ({ context }) => ({ services: context.services, outbox: context.outbox }),
                  onDone: [{ guard: 'brokerDown', target: 'paused', actions: 'refreshStatus' }, { target: 'draining', actions: 'refreshStatus' }],
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
                  input: ({ context }) => ({
                    services: context.services,
                    outbox: context.outbox,
                    runnerFactory: createOutboxMessageRunner,
                    window,
                    ackTimeoutMs,
                  }),
                },
                initial: 'walking',
                states: {
                  walking: {
                    on: {
                      'result.enqueued': { actions: 'requestRescan' },
                      shutdown: { target: 'finishing', actions: ['markShuttingDown', 'finishInFlight'] },
                    },
                  },
                  finishing: {
                    description: 'Shutting down: no new publishes; waiting (bounded) for the PubAcks in flight.',
                    after: { shutdownGrace: '#outbox-' + kind + '.stopped' },
                  },
                },
                on: {
                  'drain.finished': [
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
                  'broker.connected': { target: 'draining', actions: ['markConnected', 'wakeParkedFiles'] },
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

/** Child specs of the three outbox children, in start order (supervisor/children.ts lists them after `config`). */
export const OUTBOX_CHILD_SPECS = [
  { id: 'outbox-results', logic: outboxMachine, restart: 'permanent', shutdownMs: OUTBOX_CHILD_SHUTDOWN_MS },
  { id: 'outbox-events', logic: createOutboxMachine('events'), restart: 'permanent', shutdownMs: OUTBOX_CHILD_SHUTDOWN_MS },
  { id: 'outbox-obs', logic: createOutboxMachine('obs'), restart: 'permanent', shutdownMs: OUTBOX_CHILD_SHUTDOWN_MS },
] as const;
