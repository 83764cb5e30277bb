/**
 * The broker harness runs a real nats-server and bootstraps exactly the JetStream resources of
 * contract §4. The expected tables below are copied from the contract by hand (not imported from
 * bootstrap.ts) so that a drift in either place fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection, Status } from '@nats-io/transport-node';
import type { StreamInfo } from '@nats-io/jetstream';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import { findNatsServerBinary, NATS_SERVER_INSTALL_HINT, startNatsServer } from '../../devtools/dev-broker/nats-server.js';
import { startBroker, startCluster, type Broker, type BrokerCluster } from './broker.js';
import { pollUntil } from './poll.js';

const NS_PER_DAY = 24 * 60 * 60 * 1e9;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const POLL_INTERVAL_MS = 100;
const RECONNECT_TIMEOUT_MS = 10_000;
const FAILOVER_TIMEOUT_MS = 15_000;

/** Contract §4 streams: subjects, max_age (ns), max_bytes, max_msgs_per_subject (-1 = unlimited). */
const CONTRACT_STREAMS: Record<string, { subjects: string[]; max_age: number; max_bytes: number; max_msgs_per_subject: number }> = {
  RESULTS: { subjects: ['results.>'], max_age: 30 * NS_PER_DAY, max_bytes: 2 * GiB, max_msgs_per_subject: -1 },
  EXEC: { subjects: ['commands.>'], max_age: 7 * NS_PER_DAY, max_bytes: 64 * MiB, max_msgs_per_subject: 1 },
  EVENTS: { subjects: ['events.>'], max_age: 7 * NS_PER_DAY, max_bytes: 256 * MiB, max_msgs_per_subject: -1 },
  INVENTORY: { subjects: ['inventory.>'], max_age: 90 * NS_PER_DAY, max_bytes: 1 * GiB, max_msgs_per_subject: -1 },
  OBS_EVENTS: { subjects: ['obs.>'], max_age: 90 * NS_PER_DAY, max_bytes: 512 * MiB, max_msgs_per_subject: -1 },
};

/** Contract §4 KV buckets and their history. */
const CONTRACT_KV: Record<string, number> = {
  agent_config: 1,
  agent_groups: 1,
  agent_groups_derived: 1,
  script_current: 5,
  script_status: 5,
};

/** Contract §4 object stores: max_age (ns, 0 = unlimited) and max_bytes (-1 = unlimited). */
const CONTRACT_OBJECT_STORES: Record<string, { max_age: number; max_bytes: number }> = {
  result_output: { max_age: 30 * NS_PER_DAY, max_bytes: 1 * GiB },
  agent_releases: { max_age: 0, max_bytes: -1 },
  scripts: { max_age: 0, max_bytes: -1 },
};

/** Resolves on the next status event of `type` from `nc`. */
function nextStatus(nc: NatsConnection, type: Status['type']): Promise<Status> {
  return (async () => {
    for await (const s of nc.status()) {
      if (s.type === type) return s;
    }
    throw new Error(`connection closed before a '${type}' status`);
  })();
}

async function listStreams(broker: Broker | BrokerCluster): Promise<StreamInfo[]> {
  const out: StreamInfo[] = [];
  for await (const si of broker.jsm.streams.list()) out.push(si);
  return out;
}

describe('findNatsServerBinary', () => {
  it('fails with the install hint when KANADE_NATS_SERVER points nowhere', () => {
    expect(() => findNatsServerBinary({ KANADE_NATS_SERVER: '/nonexistent/nats-server', PATH: '' })).toThrow(NATS_SERVER_INSTALL_HINT);
  });
});

describe('startNatsServer', () => {
  it("fails with the server's stderr when the server cannot start", async () => {
    const server = await startNatsServer();
    try {
      await expect(startNatsServer({ port: server.port })).rejects.toThrow(/exited before it was ready[\s\S]*address already in use/);
    } finally {
      await server.cleanup();
    }
    expect(server.pid).toBeUndefined();
  });
});

describe('single-node broker', () => {
  let broker: Broker;

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('bootstraps exactly the contract §4 streams, KV buckets and object stores', async () => {
    const streams = await listStreams(broker);
    const byName = new Map(streams.map((si) => [si.config.name, si]));

    const plain = streams.map((s) => s.config.name).filter((n) => !n.startsWith('KV_') && !n.startsWith('OBJ_'));
    expect(plain.sort()).toEqual(Object.keys(CONTRACT_STREAMS).sort());
    for (const [name, want] of Object.entries(CONTRACT_STREAMS)) {
      const c = byName.get(name)!.config;
      expect({
        name,
        subjects: c.subjects,
        max_age: c.max_age,
        max_bytes: c.max_bytes,
        max_msgs_per_subject: c.max_msgs_per_subject,
        storage: c.storage,
        discard: c.discard,
        retention: c.retention,
        num_replicas: c.num_replicas,
        duplicate_window: c.duplicate_window,
      }).toEqual({
        name,
        ...want,
        storage: 'file',
        discard: 'old',
        retention: 'limits',
        num_replicas: 1,
        duplicate_window: 2 * 60 * 1e9, // server default: 2 minutes
      });
    }

    const buckets: string[] = [];
    for await (const status of broker.kvm.list()) buckets.push(status.bucket);
    expect(buckets.sort()).toEqual(Object.keys(CONTRACT_KV).sort());
    for (const [name, history] of Object.entries(CONTRACT_KV)) {
      const kv = await broker.kvm.open(name);
      const status = await kv.status();
      expect({ name, history: status.history, replicas: status.replicas }).toEqual({ name, history, replicas: 1 });
      expect(byName.get(`KV_${name}`)?.config.storage).toBe('file');
    }

    const stores: string[] = [];
    for await (const status of broker.objm.list()) stores.push(status.bucket);
    expect(stores.sort()).toEqual(Object.keys(CONTRACT_OBJECT_STORES).sort());
    for (const [name, want] of Object.entries(CONTRACT_OBJECT_STORES)) {
      const c = byName.get(`OBJ_${name}`)!.config;
      expect({ name, max_age: c.max_age, max_bytes: c.max_bytes, replicas: c.num_replicas, storage: c.storage }).toEqual({
        name,
        ...want,
        replicas: 1,
        storage: 'file',
      });
    }

    expect(streams).toHaveLength(
      Object.keys(CONTRACT_STREAMS).length + Object.keys(CONTRACT_KV).length + Object.keys(CONTRACT_OBJECT_STORES).length,
    );
  });

  it('is idempotent: bootstrapping again changes nothing and keeps data', async () => {
    const before = await listStreams(broker);
    await broker.js.publish('events.idempotency.check', 'kept');
    const kv = await broker.kvm.open('script_current');
    await kv.put('manifest-1', 'v1');

    await bootstrapBackendResources(broker.nc);
    await bootstrapBackendResources(broker.nc);
    // Drift made by hand is repaired (create-or-update, not create-if-missing).
    await broker.jsm.streams.update('EXEC', { max_bytes: 1 * MiB, max_msgs_per_subject: 3 });
    await broker.jsm.streams.update('KV_agent_config', { max_msgs_per_subject: 4 });
    await broker.jsm.streams.update('OBJ_result_output', { max_bytes: 2 * GiB });
    await bootstrapBackendResources(broker.nc);

    const after = await listStreams(broker);
    const configs = (list: StreamInfo[]) => Object.fromEntries(list.map((si) => [si.config.name, si.config]));
    expect(configs(after)).toEqual(configs(before));
    expect(after.find((s) => s.config.name === 'EVENTS')!.state.messages).toBe(1);
    expect((await kv.get('manifest-1'))?.string()).toBe('v1');
  });

  it('restarts on the same port and store, keeping messages, and clients reconnect', async () => {
    const { port, storeDir, pid } = broker.server;
    const ack = await broker.js.publish('results.req-1.pc-1', 'payload-before-restart');
    const reconnected = nextStatus(broker.nc, 'reconnect');

    await broker.restart();

    expect(broker.server.port).toBe(port);
    expect(broker.server.storeDir).toBe(storeDir);
    expect(broker.server.pid).toBeDefined();
    expect(broker.server.pid).not.toBe(pid);
    await expect(
      Promise.race([reconnected, new Promise((_, reject) => setTimeout(() => reject(new Error('no reconnect')), RECONNECT_TIMEOUT_MS))]),
    ).resolves.toMatchObject({ type: 'reconnect' });

    const stored = await pollUntil(
      'RESULTS message after restart',
      RECONNECT_TIMEOUT_MS,
      () => broker.jsm.streams.getMessage('RESULTS', { seq: ack.seq }).then((m) => m ?? undefined),
      POLL_INTERVAL_MS,
    );
    expect(stored.string()).toBe('payload-before-restart');
    const ack2 = await broker.js.publish('results.req-2.pc-1', 'payload-after-restart');
    expect(ack2.seq).toBe(ack.seq + 1);
  });
});

describe('3-node cluster', () => {
  let cluster: BrokerCluster;

  beforeAll(async () => {
    cluster = await startCluster(3);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('runs replicas-3 streams and survives losing one node', async () => {
    expect(cluster.urls).toHaveLength(3);
    expect(new Set(cluster.urls).size).toBe(3);

    const info = await cluster.jsm.streams.info('RESULTS');
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.leader).toBeTruthy();
    expect(info.cluster?.replicas ?? []).toHaveLength(2);

    const first = await cluster.js.publish('results.req-1.pc-1', 'before-failure');

    // Kill the RESULTS leader: the harder case, forcing a stream leader election.
    const victim = cluster.cluster.nodes.find((n) => n.serverName === info.cluster?.leader);
    expect(victim).toBeDefined();
    await victim!.kill();

    const second = await pollUntil(
      'publish after node loss',
      FAILOVER_TIMEOUT_MS,
      () => cluster.js.publish('results.req-2.pc-1', 'after-failure', { timeout: 2_000, msgID: 'req-2' }),
      POLL_INTERVAL_MS,
    );
    expect(second.seq).toBe(first.seq + 1);
    const stored = await pollUntil(
      'read after node loss',
      FAILOVER_TIMEOUT_MS,
      () => cluster.jsm.streams.getMessage('RESULTS', { seq: first.seq }).then((m) => m ?? undefined),
      POLL_INTERVAL_MS,
    );
    expect(stored.string()).toBe('before-failure');
    const after = await cluster.jsm.streams.info('RESULTS');
    expect(after.cluster?.leader).not.toBe(info.cluster?.leader);
  });
});
