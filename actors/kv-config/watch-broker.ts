/**
 * Turns the {@link BrokerPort} hub into machine events, so a child's statechart reacts to the
 * connection child's view of the broker: `broker.connected` (with the live connection) and
 * `broker.disconnected`. Used by the `config`, `heartbeat` and `inventory` children.
 *
 * @example
 * setup({ actors: { watchBroker } }).createMachine({ invoke: { id: 'watchBroker', src: 'watchBroker', input: ({ context }) => context.services.broker } });
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { fromCallback } from 'xstate';
import type { BrokerEvent } from '../../domain/broker-event.js';
import type { BrokerPort } from '../ports.js';

/** Sends the current broker state at once and every change after; unsubscribes when stopped. */
export const watchBroker = fromCallback<{ type: string }, BrokerPort>(({ input, sendBack }) => {
  let connected: NatsConnection | undefined;
  return input.watch((state) => {
    if (state.connected) {
      if (connected === state.nc) return;
      connected = state.nc;
      sendBack({ type: 'broker.connected', nc: state.nc } satisfies BrokerEvent);
    } else {
      if (connected === undefined) return;
      connected = undefined;
      sendBack({ type: 'broker.disconnected' } satisfies BrokerEvent);
    }
  });
});
