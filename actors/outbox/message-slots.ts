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

/**
 * A runner factory over `bind`, which turns a pass's effects into the message machine with its
 * actions provided (`bindOutboxMessageEffects`; the machine is passed in because actors/ never
 * import machines/).
 */
export function createMessageSlots(bind: (effects: OutboxMessageEffects) => AnyStateMachine): OutboxMessageRunnerFactory {
  return (effects, options) => {
    const logic = bind(effects);
    const actorOptions = options.clock === undefined ? {} : { clock: options.clock as never };
    const free: AnyActorRef[] = [];
    return {
      start(name: string, prior?: PriorFailures): OutboxMessageHandle {
        const actor = free.pop() ?? createActor(logic, { input: { name, ackTimeoutMs: options.ackTimeoutMs }, ...actorOptions }).start();
        // A slot resumes a file with prior failures in `backoff`; it is not parked a second time.
        actor.send({
          type: 'message.assigned',
          name,
          failures: prior?.failures ?? 0,
          lastError: prior?.lastError ?? '',
          waits: prior?.waits ?? 0,
        });
        const state = (): string => String((actor.getSnapshot() as { value: unknown }).value);
        return {
          send: (event) => actor.send(event),
          stop: () => {
            if (RESTING.has(state())) free.push(actor);
            else actor.stop();
          },
          state,
        };
      },
    };
  };
}
