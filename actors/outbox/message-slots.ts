/**
 * Runs per-message life cycles (machines/outbox-message-machine.ts) in reusable actor slots: a
 * slot whose message rests (`enqueued`, `done`, `quarantined`, `backoff`) takes the next file, so a
 * 20,000-file drain creates at most window + deletes actors. A slot stopped mid-flight (pause,
 * shutdown) is discarded, which also cancels its ack timeout. The slots are actors of their own
 * (outside the supervision tree) on the drain child's clock.
 *
 * @example
 * const runnerFactory = createMessageSlots(bindOutboxMessageEffects);
 * const runner = runnerFactory(effects, { ackTimeoutMs: 30_000, clock });
 * runner.start('8d7c….json').send({ type: 'publish.start' });
 */
import { createActor, type AnyActorRef, type AnyStateMachine } from 'xstate';
import type { OutboxMessageEffects, OutboxMessageHandle, OutboxMessageRunnerFactory, PriorFailures } from './message-runner.js';

/** States in which a slot can be given another file. */
const RESTING = new Set(['enqueued', 'done', 'quarantined', 'backoff']);
/** Resting slots kept between passes per clock and ack timeout (a window plus the deletes). */
export const MESSAGE_SLOTS_KEPT = 256;

/**
 * A runner factory over `bind`, which turns "the effects of this actor" into the message machine
 * with its actions provided (`bindOutboxMessageEffects`; the machine is passed in because actors/
 * never import machines/). The machine is provided once per factory, and resting slots outlive
 * their pass: a pass of one message (a fresh result) makes no machine and, once warm, no actor.
 * Each slot's effects are those of the pass that took it last.
 */
export function createMessageSlots(
  bind: (effectsOf: (self: AnyActorRef) => OutboxMessageEffects | undefined) => AnyStateMachine,
): OutboxMessageRunnerFactory {
  const effectsOf = new WeakMap<AnyActorRef, OutboxMessageEffects>();
  const logic = bind((self) => effectsOf.get(self));
  // A slot's clock and ack timeout are fixed when it is made: free slots are kept per both.
  const freeByClock = new WeakMap<object, Map<number, AnyActorRef[]>>();
  const freeOnRealTimers = new Map<number, AnyActorRef[]>();
  const freeSlots = (clock: unknown, ackTimeoutMs: number): AnyActorRef[] => {
    let byTimeout = freeOnRealTimers;
    if (typeof clock === 'object' && clock !== null) {
      byTimeout = freeByClock.get(clock) ?? new Map<number, AnyActorRef[]>();
      freeByClock.set(clock, byTimeout);
    }
    const free = byTimeout.get(ackTimeoutMs) ?? [];
    byTimeout.set(ackTimeoutMs, free);
    return free;
  };
  return (effects, options) => {
    const actorOptions = options.clock === undefined ? {} : { clock: options.clock as never };
    const free = freeSlots(options.clock, options.ackTimeoutMs);
    return {
      start(name: string, prior?: PriorFailures): OutboxMessageHandle {
        const actor = free.pop() ?? createActor(logic, { input: { name, ackTimeoutMs: options.ackTimeoutMs }, ...actorOptions }).start();
        effectsOf.set(actor, effects);
        // A slot resumes a file with prior failures in `backoff`; it is not parked a second time.
        actor.send({
          type: 'message.assigned',
          name,
          failures: prior?.failures ?? 0,
          lastError: prior?.lastError ?? '',
          waits: prior?.waits ?? 0,
        });
        const state = (): string => String((actor.getSnapshot() as { value: unknown }).value);
        let letGo = false;
        return {
          send: (event) => {
            if (!letGo) actor.send(event);
          },
          stop: () => {
            if (letGo) return;
            letGo = true;
            effectsOf.delete(actor);
            if (RESTING.has(state()) && free.length < MESSAGE_SLOTS_KEPT) free.push(actor);
            else actor.stop();
          },
          state,
        };
      },
    };
  };
}
