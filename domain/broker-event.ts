/**
 * The broker as a child's statechart sees it: `broker.connected` (with the live connection, which
 * survives reconnects) and `broker.disconnected`. Sent by `actors/kv-config/watch-broker.ts` from
 * the connection child's hub; a type only, so machines name it without importing the actor.
 */
import type { NatsConnection } from '@nats-io/transport-node';

/** Events sent by `watchBroker`. */
export type BrokerEvent = { readonly type: 'broker.connected'; readonly nc: NatsConnection } | { readonly type: 'broker.disconnected' };
