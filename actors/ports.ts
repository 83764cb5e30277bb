/**
 * The narrow interfaces through which children reach shared resources. Implementations live in
 * actors/; machines receive them through `input` and tests pass twenty-line fakes.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { EffectiveConfig, EventStarted, ExecResult, ObsEvent } from '../contract/index.js';
import type { AgentConfig } from './config/load-config.js';
import type { Failpoints } from './failpoints.js';

/** The broker as siblings see it: connected (with the live connection) or not. */
export type BrokerState =
  | { readonly connected: true; readonly nc: NatsConnection; readonly server: string; readonly since: number }
  | { readonly connected: false; readonly since: number; readonly everConnected: boolean };

/** Connection state, owned by the `connection` child and read by every other child. */
export interface BrokerPort {
  /** The current state. */
  state(): BrokerState;
  /** Calls `listener` now and on every change; returns the unsubscribe function. */
  watch(listener: (state: BrokerState) => void): () => void;
}

/** A durable outbox: `enqueue` resolves only once the message is on disk (fsynced); it rejects on disk errors. */
export interface OutboxPort<T> {
  enqueue(message: T): Promise<void>;
  /** True when a message with file id `id` is still in the outbox or its `stuck/` (file outboxes only). */
  has?(id: string): Promise<boolean>;
  /** Writes durably but holds it back from publishing until `release(id)` (file outboxes only; issue #17 item 2). */
  enqueueHeld?(message: T): Promise<void>;
  /** Lets a held message be published. */
  release?(id: string): Promise<void>;
  /** File ids of held messages. */
  listHeld?(): Promise<string[]>;
  /** Writes without fsync, published at once: the caller holds the message durably until `syncQueued(id)` (file outboxes only). */
  enqueueUnsynced?(message: T): Promise<void>;
  /** Makes an `enqueueUnsynced` message durable (a no-op once it was delivered). */
  syncQueued?(id: string): Promise<void>;
}

/** The three outboxes of §9. */
export interface Outboxes {
  readonly results: OutboxPort<ExecResult>;
  readonly events: OutboxPort<EventStarted>;
  readonly obs: OutboxPort<ObsEvent>;
}

/** A live value with change notification (effective config, group membership). */
export interface LivePort<T> {
  current(): T;
  watch(listener: (value: T) => void): () => void;
}

/** A LivePort its single writer can set (the hubs of {@link AgentServices}; `createLiveValue` returns one). */
export type WritableLivePort<T> = LivePort<T> & { set(value: T): void };

/** Everything a child of the supervisor may use; passed as the child's `input`. */
export interface AgentServices {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly agentVersion: string;
  readonly broker: BrokerPort;
  readonly outboxes: Outboxes;
  /** Resolved `agent_config` layers (§5.6); defaults until the KV is read. Read-only: the `config` child is its one writer. */
  readonly effectiveConfig: LivePort<EffectiveConfig>;
  /** Current groups: union of `agent_groups` and `agent_groups_derived` at `<pc_id>`, sorted. Read-only, like `effectiveConfig`. */
  readonly groups: LivePort<readonly string[]>;
  readonly failpoints: Failpoints;
  /** Wall clock, epoch ms: machines read time only through this (tests pass a SimulatedClock's `now`). */
  readonly now: () => number;
  /** Random source in [0, 1): machines draw jitter only through this, so tests can pin it. */
  readonly random: () => number;
}

/**
 * Whether the `config` child has read the KV config (contract §5.6 boot walk) at least once since
 * the agent started — what a sibling waits for before a decision that KV may override (the first
 * inventory run). Once true it stays true: a later KV outage keeps the last values read.
 */
export interface ConfigSyncState {
  /** True once a boot walk of the KV config completed since the agent started. */
  readonly synced: boolean;
  /** Why the KV could not be read yet (the last failure before the first sync), or null. */
  readonly lastError: string | null;
}

/** The `configSync` hub's value before the KV has been read. */
export const CONFIG_NOT_SYNCED: ConfigSyncState = { synced: false, lastError: null };

/** The write side of the hubs the `config` child owns. */
export interface ConfigHubs {
  readonly effectiveConfig: WritableLivePort<EffectiveConfig>;
  readonly groups: WritableLivePort<readonly string[]>;
  readonly configSync: WritableLivePort<ConfigSyncState>;
}

/**
 * What the root supervisor holds: the services every child sees, plus the write side of the config
 * hubs, which only the `config` child's input carries (`configServices`). Every other child's input
 * is typed {@link AgentServices}, where the hubs are read-only views.
 */
export interface RootServices extends AgentServices {
  readonly configHubs: ConfigHubs;
}

/** The `config` child's input: its services with the two hubs it owns writable. */
export type ConfigServices = Omit<AgentServices, 'effectiveConfig' | 'groups'> & ConfigHubs;

/** The `config` child's input from the root's services: the hubs' write side in place of their read-only views. */
export function configServices(services: RootServices): ConfigServices {
  const { effectiveConfig, groups, configSync } = services.configHubs;
  return { ...services, effectiveConfig, groups, configSync };
}

/** The `inventory` child's input: the services plus a read-only view of the `configSync` hub (its first run waits for it). */
export type InventoryServices = AgentServices & { readonly configSync: LivePort<ConfigSyncState> };

/** The `inventory` child's input from the root's services. */
export function inventoryServices(services: RootServices): InventoryServices {
  return { ...services, configSync: readOnlyView(services.configHubs.configSync) };
}

/** A read-only view of a hub: `current` and `watch`, no `set` (what non-writers get). */
export function readOnlyView<T>(port: LivePort<T>): LivePort<T> {
  return { current: () => port.current(), watch: (listener) => port.watch(listener) };
}

/** A minimal in-memory LivePort, used for defaults and in tests. */
export function createLiveValue<T>(initial: T): WritableLivePort<T> {
  let value = initial;
  const listeners = new Set<(value: T) => void>();
  return {
    current: () => value,
    watch(listener) {
      listeners.add(listener);
      listener(value);
      return () => listeners.delete(listener);
    },
    set(next) {
      value = next;
      for (const listener of [...listeners]) listener(next);
    },
  };
}
