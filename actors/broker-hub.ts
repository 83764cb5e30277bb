/**
 * The `BrokerPort` hub: one writer (the `connection` child) and many readers. Readers get the live
 * `NatsConnection` while connected and a "since" timestamp either way.
 *
 * @example
 * const broker = createBrokerHub();
 * broker.watch((s) => log.info({ connected: s.connected }, 'broker'));
 * broker.connected(nc, 'nats://127.0.0.1:4222', Date.now());
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { BrokerPort, BrokerState } from './ports.js';

/** A writable {@link BrokerPort}; only the `connection` child calls the writers. */
export interface BrokerHub extends BrokerPort {
  connected(nc: NatsConnection, server: string, since: number): void;
  disconnected(since: number, everConnected: boolean): void;
}

const HUBS = new WeakSet<object>();

/** Creates a hub that starts disconnected (never connected). */
export function createBrokerHub(now: number = Date.now()): BrokerHub {
  let state: BrokerState = { connected: false, since: now, everConnected: false };
  const listeners = new Set<(state: BrokerState) => void>();
  const set = (next: BrokerState): void => {
    state = next;
    for (const listener of [...listeners]) listener(next);
  };
  const hub: BrokerHub = {
    state: () => state,
    watch(listener) {
      listeners.add(listener);
      listener(state);
      return () => listeners.delete(listener);
    },
    connected: (nc, server, since) => set({ connected: true, nc, server, since }),
    disconnected: (since, everConnected) => set({ connected: false, since, everConnected }),
  };
  HUBS.add(hub);
  return hub;
}

/** The writer side of `port`, or an Error when `port` was not made by {@link createBrokerHub}. */
export function brokerWriter(port: BrokerPort): BrokerHub {
  if (!HUBS.has(port)) throw new Error('services.broker is not a broker hub: only createBrokerHub() hubs can be written');
  return port as BrokerHub;
}
