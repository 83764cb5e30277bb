/**
 * Builds the three outboxes of contract §9 under `<data_dir>`: the durable stores every child
 * enqueues into (`AgentServices.outboxes`) plus the drain engine each `outbox-*` child runs. The
 * stores are plain code independent of the drain children: enqueue works while a child restarts.
 *
 * @example
 * const outboxes = createOutboxes(config.dataDir, config.pcId, log);
 * await outboxes.results.enqueue(result);
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { OutboxPort, Outboxes } from '../ports.js';
import { OUTBOX_KINDS, type OutboxKind, type OutboxKindSpec, type OutboxPayloads } from './outbox-kinds.js';
import { OutboxDrain } from './outbox-drain.js';
import { OutboxStore } from './outbox-store.js';

/** An outbox the drain child can work on: the store and its long-lived drain engine. */
export interface DrainableOutbox<T> extends OutboxPort<T> {
  readonly kind: OutboxKind;
  readonly store: OutboxStore<T>;
  readonly drain: OutboxDrain<T>;
}

/** The three outboxes with their drain engines. */
export interface DrainableOutboxes extends Outboxes {
  readonly results: DrainableOutbox<OutboxPayloads['results']>;
  readonly events: DrainableOutbox<OutboxPayloads['events']>;
  readonly obs: DrainableOutbox<OutboxPayloads['obs']>;
}

const DRAINABLE = new WeakSet<object>();

/** One drainable outbox of `kind` in `dir` (tests use it directly). */
export function createOutbox<K extends OutboxKind>(kind: K, dir: string, log: Logger): DrainableOutbox<OutboxPayloads[K]> {
  const spec = OUTBOX_KINDS[kind] as OutboxKindSpec<OutboxPayloads[K]>;
  const store = new OutboxStore(dir, spec, log);
  const outbox: DrainableOutbox<OutboxPayloads[K]> = {
    kind,
    store,
    drain: new OutboxDrain(store, log),
    enqueue: (message) => store.enqueue(message),
    has: (id) => store.has(id),
    enqueueHeld: (message) => store.enqueueHeld(message),
    release: (id) => store.release(id),
    enqueueUnsynced: (message) => store.enqueueUnsynced(message),
    syncQueued: (id) => store.syncQueued(id),
    listHeld: () => store.listHeld(),
  };
  DRAINABLE.add(outbox);
  return outbox;
}

/** `<dataDir>/outbox`, `<dataDir>/events-outbox`, `<dataDir>/obs-outbox` (§9). */
export function createOutboxes(dataDir: string, pcId: string, log: Logger): DrainableOutboxes {
  const child = log.child({ pc_id: pcId });
  const make = <K extends OutboxKind>(kind: K) => createOutbox(kind, path.join(dataDir, OUTBOX_KINDS[kind].dirName), child);
  return { results: make('results'), events: make('events'), obs: make('obs') };
}

/** The drainable outbox behind `port`, or an Error when `port` was not made by {@link createOutbox}. */
export function drainableOutbox<T>(port: OutboxPort<T>): DrainableOutbox<T> {
  if (!DRAINABLE.has(port)) throw new Error('services.outboxes entry is not a file outbox: only createOutboxes() outboxes can be drained');
  return port as DrainableOutbox<T>;
}
