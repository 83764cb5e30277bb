/**
 * The effect actors of an outbox child (machines/outbox-machine.ts names them; supervisor/children.ts
 * provides these): watching the broker hub and the store, creating the directory, and running one
 * drain pass on the live connection. They own the outbox: each finds it from `services` and the
 * child's `kind`, and reports the drain's status in its events, so the machine holds only data.
 *
 * @example
 * outboxLogic.provide({ actors: { drainBacklog: createDrainBacklog({ ...OUTBOX_DRAIN_EFFECTS, publishFactory: () => neverAcks }) } });
 */
import { Actor, fromCallback, fromPromise, type AnyActorRef, type EventObject } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentServices } from '../ports.js';
import { drainableOutbox, type DrainableOutbox } from './create-outboxes.js';
import { createJetStreamPublish, createResultPrepare } from './jetstream-publisher.js';
import type { OutboxMessageRunnerFactory, TimerClock } from './message-runner.js';
import type { PassSummary } from './drain-pass.js';
import type { OutboxStatus } from './drain-stats.js';
import type { PrepareFn, PublishFn } from './publish-message.js';
import { describeError } from './outbox-store.js';
import type { OutboxKind } from './outbox-kinds.js';

/**
 * Events the outbox actors send to the outbox child. `status` is the drain's status as of the
 * event (the child keeps no handle on the drain); tests may leave it out where it is optional.
 */
export type OutboxActorEvent =
  | { readonly type: 'broker.connected'; readonly status?: OutboxStatus }
  | { readonly type: 'broker.disconnected'; readonly status?: OutboxStatus }
  | { readonly type: 'result.enqueued'; readonly status?: OutboxStatus }
  | { readonly type: 'enqueue.failed'; readonly error: string }
  | { readonly type: 'enqueue.succeeded' }
  | { readonly type: 'outbox.progress'; readonly status: OutboxStatus }
  | { readonly type: 'drain.finished'; readonly summary: PassSummary; readonly status?: OutboxStatus }
  | { readonly type: 'drain.failed'; readonly error: string; readonly dir?: string };

/** Input of {@link watchOutbox} and {@link ensureOutboxDir}: the services and which of their outboxes. */
export interface OutboxActorInput {
  readonly services: AgentServices;
  readonly kind: OutboxKind;
}

/** The drainable outbox `input` names (an Error when `services.outboxes` holds something else). */
export function outboxOf(input: OutboxActorInput): DrainableOutbox<unknown> {
  return drainableOutbox(input.services.outboxes[input.kind] as never) as DrainableOutbox<unknown>;
}

/** Why {@link ensureOutboxDir} failed, with the directory it could not prepare (for the child's log line). */
export class OutboxDirUnavailableError extends Error {
  constructor(
    readonly dir: string,
    cause: unknown,
  ) {
    super(describeError(cause), { cause });
    this.name = 'OutboxDirUnavailableError';
  }
}

/**
 * Forwards broker connectivity, enqueues (the wake-up) and enqueue health to the child. A reconnect
 * may be what parked files waited for (§4 "woken on reconnect"): they are made due before the child
 * hears of it.
 */
export const watchOutbox = fromCallback<EventObject, OutboxActorInput>(({ sendBack, input }) => {
  const outbox = outboxOf(input);
  let connected: boolean | undefined;
  const unwatchBroker = input.services.broker.watch((state) => {
    if (state.connected === connected) return;
    connected = state.connected;
    if (connected) outbox.drain.wakeParked();
    sendBack({ type: connected ? 'broker.connected' : 'broker.disconnected', status: outbox.drain.status() });
  });
  const unwatchEnqueue = outbox.store.onEnqueued(() => sendBack({ type: 'result.enqueued', status: outbox.drain.status() }));
  const unwatchHealth = outbox.store.onHealth((event) => sendBack(event));
  return () => {
    unwatchBroker();
    unwatchEnqueue();
    unwatchHealth();
  };
});

/**
 * Creates the outbox directory, clears crash leftovers, reads the stuck count and resolves with the
 * drain's status; rejects with {@link OutboxDirUnavailableError} so the child retries next tick.
 */
export const ensureOutboxDir = fromPromise<OutboxStatus, OutboxActorInput>(async ({ input }) => {
  const outbox = outboxOf(input);
  try {
    await outbox.store.ensureDir();
    await outbox.store.removeStaleTmp();
    await outbox.drain.refreshStuck();
  } catch (err) {
    throw new OutboxDirUnavailableError(outbox.store.dir, err);
  }
  return outbox.drain.status();
});

/** The real timers, for an actor that is not an xstate `Actor` (never the case inside a system). */
const REAL_TIMERS: TimerClock = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout) };

/**
 * The clock of the actor `self` — xstate's public `Actor.clock`: the system's clock (the one given
 * to the root's `createActor`, a SimulatedClock in tests).
 */
export function clockOf(self: AnyActorRef): TimerClock {
  return self instanceof Actor ? (self.clock as TimerClock) : REAL_TIMERS;
}

/** A running pass re-sends its status this often even when nothing settles (stall detection). */
export const OUTBOX_STATUS_REFRESH_MS = 1_000;

/** Input of a drain pass actor: data only (the window defaults to the pass's own). */
export interface DrainBacklogInput extends OutboxActorInput {
  readonly window: number | undefined;
  readonly ackTimeoutMs: number;
}

/** How a drain pass publishes and prepares on a connection (injectable for tests). */
export interface PublishEffects {
  publishFactory(nc: NatsConnection, services: AgentServices): PublishFn;
  prepareFactory(nc: NatsConnection, outbox: DrainableOutbox<unknown>): PrepareFn<unknown> | undefined;
}

/**
 * What a drain pass actor is built from: its publish effects and the runner of the per-message
 * life cycles (supervisor/children.ts binds machines/outbox-message-machine.ts; actors/ never
 * import machines/).
 */
export interface DrainBacklogEffects extends PublishEffects {
  readonly runnerFactory: OutboxMessageRunnerFactory;
}

/** The real publish effects: JetStream publish with PubAck, offload for results. */
export const JETSTREAM_EFFECTS: PublishEffects = {
  publishFactory: (nc, services) => createJetStreamPublish(nc, services.failpoints),
  prepareFactory: (nc, outbox) => (outbox.kind === 'results' ? (createResultPrepare(nc) as PrepareFn<unknown>) : undefined),
};

/**
 * One drain pass as a callback actor: `drain.finished` when the directory was walked and every
 * message settled, `drain.failed` when the directory could not be listed. The `drain.finish`
 * event (shutdown) stops new publishes and waits for those in flight; stopping the actor (broker
 * gone) abandons them, and late PubAcks still delete their files.
 */
export function createDrainBacklog(effects: DrainBacklogEffects) {
  return fromCallback<EventObject, DrainBacklogInput>(({ sendBack, receive, input, self }) => {
    const outbox = outboxOf(input);
    const state = input.services.broker.state();
    if (!state.connected) {
      sendBack({ type: 'broker.disconnected', status: outbox.drain.status() });
      return undefined;
    }
    const prepare = effects.prepareFactory(state.nc, outbox);
    // The message actors' ack timeouts and the status refresh run on this child's clock.
    const clock = clockOf(self);
    const pass = outbox.drain.runPass({
      publish: effects.publishFactory(state.nc, input.services),
      ...(prepare === undefined ? {} : { prepare }),
      runnerFactory: effects.runnerFactory,
      window: input.window,
      ackTimeoutMs: input.ackTimeoutMs,
      clock,
      onProgress: (status) => sendBack({ type: 'outbox.progress', status }),
    });
    let settled = false;
    // Progress also on a timer: a pass that settles nothing (a hung read) still updates status,
    // so `stalled_ms` reaches the child's `progress` region.
    let refresh: unknown;
    const armRefresh = (): void => {
      refresh = clock.setTimeout(() => {
        if (settled) return;
        sendBack({ type: 'outbox.progress', status: outbox.drain.status() });
        armRefresh();
      }, OUTBOX_STATUS_REFRESH_MS);
    };
    armRefresh();
    const end = (): void => {
      settled = true;
      clock.clearTimeout(refresh);
    };
    pass.done.then(
      (summary) => {
        end();
        sendBack({ type: 'drain.finished', summary, status: outbox.drain.status() });
      },
      (err: unknown) => {
        end();
        sendBack({ type: 'drain.failed', error: describeError(err), dir: outbox.store.dir });
      },
    );
    receive((event) => {
      if (event.type === 'drain.finish') void pass.finishInFlight();
    });
    return () => {
      if (!settled) pass.stop();
      end();
    };
  });
}
