/**
 * The default effect actors of an outbox child (machines/outbox-machine.ts): watching the broker
 * hub and the store, creating the directory, and running one drain pass on the live connection.
 *
 * @example
 * outboxMachine.provide({ actors: { drainBacklog: createDrainBacklog({ publishFactory: () => neverAcks }) } });
 */
import { Actor, fromCallback, fromPromise, type AnyActorRef, type EventObject } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentServices } from '../ports.js';
import type { DrainableOutbox } from './create-outboxes.js';
import { createJetStreamPublish, createResultPrepare } from './jetstream-publisher.js';
import type { OutboxMessageRunnerFactory, TimerClock } from './message-runner.js';
import type { PassSummary } from './drain-pass.js';
import type { OutboxStatus } from './drain-stats.js';
import type { PrepareFn, PublishFn } from './publish-message.js';
import { describeError } from './outbox-store.js';

/** Events the outbox actors send to the outbox child. */
export type OutboxActorEvent =
  | { readonly type: 'broker.connected' }
  | { readonly type: 'broker.disconnected' }
  | { readonly type: 'result.enqueued' }
  | { readonly type: 'enqueue.failed'; readonly error: string }
  | { readonly type: 'enqueue.succeeded' }
  | { readonly type: 'outbox.progress'; readonly status: OutboxStatus }
  | { readonly type: 'drain.finished'; readonly summary: PassSummary }
  | { readonly type: 'drain.failed'; readonly error: string };

/** Input of {@link watchOutbox} and {@link ensureOutboxDir}. */
export interface OutboxActorInput {
  readonly services: AgentServices;
  readonly outbox: DrainableOutbox<unknown>;
}

/** Forwards broker connectivity, enqueues (the wake-up) and enqueue health to the child. */
export const watchOutbox = fromCallback<EventObject, OutboxActorInput>(({ sendBack, input }) => {
  let connected: boolean | undefined;
  const unwatchBroker = input.services.broker.watch((state) => {
    if (state.connected === connected) return;
    connected = state.connected;
    sendBack({ type: connected ? 'broker.connected' : 'broker.disconnected' });
  });
  const unwatchEnqueue = input.outbox.store.onEnqueued(() => sendBack({ type: 'result.enqueued' }));
  const unwatchHealth = input.outbox.store.onHealth((event) => sendBack(event));
  return () => {
    unwatchBroker();
    unwatchEnqueue();
    unwatchHealth();
  };
});

/** Creates the outbox directory, clears crash leftovers, reads the stuck count; rejects so the child retries next tick. */
export const ensureOutboxDir = fromPromise<void, OutboxActorInput>(async ({ input }) => {
  await input.outbox.store.ensureDir();
  await input.outbox.store.removeStaleTmp();
  await input.outbox.drain.refreshStuck();
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

/** Input of a drain pass actor. */
export interface DrainBacklogInput extends OutboxActorInput {
  readonly runnerFactory: OutboxMessageRunnerFactory;
  readonly window: number;
  readonly ackTimeoutMs: number;
}

/** How a drain pass publishes and prepares on a connection (injectable for tests). */
export interface DrainBacklogEffects {
  publishFactory(nc: NatsConnection, services: AgentServices): PublishFn;
  prepareFactory(nc: NatsConnection, outbox: DrainableOutbox<unknown>): PrepareFn<unknown> | undefined;
}

/** The real effects: JetStream publish with PubAck, offload for results. */
export const JETSTREAM_EFFECTS: DrainBacklogEffects = {
  publishFactory: (nc, services) => createJetStreamPublish(nc, services.failpoints),
  prepareFactory: (nc, outbox) => (outbox.kind === 'results' ? (createResultPrepare(nc) as PrepareFn<unknown>) : undefined),
};

/**
 * One drain pass as a callback actor: `drain.finished` when the directory was walked and every
 * message settled, `drain.failed` when the directory could not be listed. The `drain.finish`
 * event (shutdown) stops new publishes and waits for those in flight; stopping the actor (broker
 * gone) abandons them, and late PubAcks still delete their files.
 */
export function createDrainBacklog(effects: DrainBacklogEffects = JETSTREAM_EFFECTS) {
  return fromCallback<EventObject, DrainBacklogInput>(({ sendBack, receive, input, self }) => {
    const state = input.services.broker.state();
    if (!state.connected) {
      sendBack({ type: 'broker.disconnected' });
      return undefined;
    }
    const prepare = effects.prepareFactory(state.nc, input.outbox);
    // The message actors' ack timeouts and the status refresh run on this child's clock.
    const clock = clockOf(self);
    const pass = input.outbox.drain.runPass({
      publish: effects.publishFactory(state.nc, input.services),
      ...(prepare === undefined ? {} : { prepare }),
      runnerFactory: input.runnerFactory,
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
        sendBack({ type: 'outbox.progress', status: input.outbox.drain.status() });
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
        sendBack({ type: 'drain.finished', summary });
      },
      (err: unknown) => {
        end();
        sendBack({ type: 'drain.failed', error: describeError(err) });
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

/** The default drain pass actor. */
export const drainBacklog = createDrainBacklog();
