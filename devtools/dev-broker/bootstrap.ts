/**
 * Creates the JetStream resources the kanade backend creates at startup (contract §4), so tests and
 * the agent's `dev` mode run against the same streams, KV buckets and object stores as production.
 * The agent itself never creates these; only this dev/test helper does.
 *
 * Create-or-update: missing resources are created, existing ones are brought back to the table's
 * limits, so calling it twice is harmless.
 *
 * @example
 * const nc = await connect({ servers: url });
 * await bootstrapBackendResources(nc);
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
  type StreamUpdateConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/transport-node';

/** One day in milliseconds. */
export const DAY_MS = 24 * 60 * 60 * 1000;
/** One mebibyte in bytes. */
export const MIB = 1024 * 1024;
/** One gibibyte in bytes. */
export const GIB = 1024 * MIB;
/** Server value meaning "no limit". */
export const UNLIMITED = -1;

/** Contract limits of one backend stream (durations in nanoseconds, as the server stores them). */
export interface BackendStreamConfig {
  subjects: string[];
  max_age: number;
  max_bytes: number;
  max_msgs_per_subject: number;
}

/** A backend stream: name plus its contract limits. */
export interface BackendStream {
  name: string;
  config: BackendStreamConfig;
}

/** A backend KV bucket: name plus its history depth. */
export interface BackendKvBucket {
  name: string;
  config: { history: number };
}

/** A backend object store: name plus its limits (absent = server default, unlimited). */
export interface BackendObjectStore {
  name: string;
  config: { max_age?: number; max_bytes?: number };
}

/** Streams of contract §4, all DiscardPolicy Old, file storage, limits retention. */
export const BACKEND_STREAMS: readonly BackendStream[] = [
  {
    name: 'RESULTS',
    config: { subjects: ['results.>'], max_age: nanos(30 * DAY_MS), max_bytes: 2 * GIB, max_msgs_per_subject: UNLIMITED },
  },
  {
    name: 'EXEC',
    config: { subjects: ['commands.>'], max_age: nanos(7 * DAY_MS), max_bytes: 64 * MIB, max_msgs_per_subject: 1 },
  },
  {
    name: 'EVENTS',
    config: { subjects: ['events.>'], max_age: nanos(7 * DAY_MS), max_bytes: 256 * MIB, max_msgs_per_subject: UNLIMITED },
  },
  {
    name: 'INVENTORY',
    config: { subjects: ['inventory.>'], max_age: nanos(90 * DAY_MS), max_bytes: 1 * GIB, max_msgs_per_subject: UNLIMITED },
  },
  {
    name: 'OBS_EVENTS',
    config: { subjects: ['obs.>'], max_age: nanos(90 * DAY_MS), max_bytes: 512 * MIB, max_msgs_per_subject: UNLIMITED },
  },
];

/** KV buckets of contract §4. */
export const BACKEND_KV_BUCKETS: readonly BackendKvBucket[] = [
  { name: 'agent_config', config: { history: 1 } },
  { name: 'agent_groups', config: { history: 1 } },
  { name: 'agent_groups_derived', config: { history: 1 } },
  { name: 'script_current', config: { history: 5 } },
  { name: 'script_status', config: { history: 5 } },
];

/** Object stores of contract §4. */
export const BACKEND_OBJECT_STORES: readonly BackendObjectStore[] = [
  { name: 'result_output', config: { max_age: nanos(30 * DAY_MS), max_bytes: 1 * GIB } },
  { name: 'agent_releases', config: {} },
  { name: 'scripts', config: {} },
];

/** Options for {@link bootstrapBackendResources}. */
export interface BootstrapOptions {
  /** Replicas of every stream, bucket and store; 1 unless bootstrapping a cluster. */
  replicas?: number;
}

/** Names of the resources that exist after a bootstrap. */
export interface BootstrapResult {
  streams: string[];
  kvBuckets: string[];
  objectStores: string[];
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/** Creates the stream, or updates it to `config` if it already exists. */
async function upsertStream(jsm: JetStreamManager, config: StreamConfig): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    await jsm.streams.add(config);
    return;
  }
  const { name: _name, ...update } = config;
  await jsm.streams.update(config.name, update as Partial<StreamUpdateConfig>);
}

/** Updates the backing stream when any of `want` differs from what the server has. */
async function reconcileBackingStream(jsm: JetStreamManager, stream: string, want: Partial<StreamUpdateConfig>): Promise<void> {
  const { config } = await jsm.streams.info(stream);
  const have = config as unknown as Record<string, unknown>;
  const differs = Object.entries(want).some(([key, value]) => have[key] !== value);
  if (differs) await jsm.streams.update(stream, want);
}

/**
 * Creates (or updates) every stream, KV bucket and object store of contract §4 on `nc`'s account,
 * mirroring what the kanade backend does at startup.
 */
export async function bootstrapBackendResources(nc: NatsConnection, opts: BootstrapOptions = {}): Promise<BootstrapResult> {
  const replicas = opts.replicas ?? 1;
  const jsm = await jetstreamManager(nc);

  for (const { name, config } of BACKEND_STREAMS) {
    await upsertStream(jsm, {
      name,
      ...config,
      subjects: [...config.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: replicas,
    } as StreamConfig);
  }

  const kvm = new Kvm(nc);
  for (const { name, config } of BACKEND_KV_BUCKETS) {
    // Kvm.create opens an existing bucket unchanged, so limits are reconciled afterwards.
    await kvm.create(name, { history: config.history, replicas, storage: StorageType.File });
    await reconcileBackingStream(jsm, `KV_${name}`, {
      max_msgs_per_subject: config.history,
      num_replicas: replicas,
    });
  }

  const objm = new Objm(nc);
  for (const { name, config } of BACKEND_OBJECT_STORES) {
    await objm.create(name, {
      storage: StorageType.File,
      replicas,
      ...(config.max_age !== undefined ? { ttl: config.max_age } : {}),
      ...(config.max_bytes !== undefined ? { max_bytes: config.max_bytes } : {}),
    });
    await reconcileBackingStream(jsm, `OBJ_${name}`, {
      max_age: config.max_age ?? 0,
      max_bytes: config.max_bytes ?? UNLIMITED,
      num_replicas: replicas,
    });
  }

  return {
    streams: BACKEND_STREAMS.map((s) => s.name),
    kvBuckets: BACKEND_KV_BUCKETS.map((b) => b.name),
    objectStores: BACKEND_OBJECT_STORES.map((o) => o.name),
  };
}
