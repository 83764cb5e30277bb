/**
 * Test-facing broker: a real nats-server with every kanade backend resource bootstrapped and a
 * connected client. Throws (never skips) with the install hint when nats-server is missing.
 *
 * @example
 * const broker = await startBroker();
 * afterAll(() => broker.stop());
 * await broker.js.publish("results.x", "hi");
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import {
  pickFreePort,
  startNatsCluster,
  startNatsServer,
  type NatsClusterHandle,
  type NatsServerHandle,
  type NatsServerOptions,
} from '../../devtools/dev-broker/nats-server.js';
import { pollUntil } from './poll.js';

/** Reconnect wait for test clients: short so restarts are picked up quickly. */
export const TEST_RECONNECT_WAIT_MS = 100;

/** Replicas used for resources bootstrapped on a test cluster. */
export const CLUSTER_REPLICAS = 3;

/** A connected test client and the JetStream views the tests use. */
export interface BrokerClient {
  /** Connected client; reconnects forever so it survives restarts. */
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  objm: Objm;
}

/** A bootstrapped single-node broker for one test file. */
export interface Broker extends BrokerClient {
  url: string;
  server: NatsServerHandle;
  /** Opens another client to this broker (closed by `stop`). */
  connect(): Promise<NatsConnection>;
  /** Restarts the server on the same port and store; clients reconnect on their own. */
  restart(): Promise<void>;
  /** Closes the test clients only; the server keeps running. */
  close(): Promise<void>;
  /** Closes clients, stops the server and removes its temp directories. */
  stop(): Promise<void>;
}

/** A bootstrapped JetStream cluster for one test file. */
export interface BrokerCluster extends BrokerClient {
  urls: string[];
  cluster: NatsClusterHandle;
  /** Opens another client to the cluster (closed by `stop`). */
  connect(): Promise<NatsConnection>;
  /** Closes the test clients only. */
  close(): Promise<void>;
  /** Closes clients and stops every node. */
  stop(): Promise<void>;
}

function connectTo(servers: string[]): Promise<NatsConnection> {
  return connect({
    servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: TEST_RECONNECT_WAIT_MS,
    reconnectJitter: 0,
  });
}

async function openClient(nc: NatsConnection): Promise<BrokerClient> {
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc), kvm: new Kvm(nc), objm: new Objm(nc) };
}

function clientPool(servers: string[]): { open(): Promise<NatsConnection>; closeAll(): Promise<void> } {
  const opened: NatsConnection[] = [];
  return {
    async open() {
      const nc = await connectTo(servers);
      opened.push(nc);
      return nc;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((nc) => nc.close().catch(() => undefined)));
    },
  };
}

/** Starts a nats-server, connects a client and bootstraps every contract §4 resource. */
export async function startBroker(opts: NatsServerOptions = {}): Promise<Broker> {
  const server = await startNatsServer(opts);
  const pool = clientPool([server.url]);
  try {
    const client = await openClient(await pool.open());
    await bootstrapBackendResources(client.nc);
    return {
      ...client,
      url: server.url,
      server,
      connect: () => pool.open(),
      restart: () => server.restart(),
      close: () => pool.closeAll(),
      async stop() {
        await pool.closeAll();
        await server.cleanup();
      },
    };
  } catch (err) {
    await pool.closeAll();
    await server.cleanup();
    throw err;
  }
}

/** Starts a 3-node JetStream cluster and bootstraps every resource with 3 replicas. */
export async function startCluster(size = 3): Promise<BrokerCluster> {
  const cluster = await startNatsCluster(size);
  const pool = clientPool(cluster.urls);
  try {
    const client = await openClient(await pool.open());
    await bootstrapBackendResources(client.nc, { replicas: Math.min(size, CLUSTER_REPLICAS) });
    return {
      ...client,
      urls: cluster.urls,
      cluster,
      connect: () => pool.open(),
      close: () => pool.closeAll(),
      async stop() {
        await pool.closeAll();
        await cluster.stopAll();
      },
    };
  } catch (err) {
    await pool.closeAll();
    await cluster.stopAll();
    throw err;
  }
}

/**
 * A nats-server that requires `token` (no JetStream resources: the tests that use it are about
 * authentication). The harness readiness probe cannot authenticate, so readiness is polled with
 * the token.
 */
export async function startTokenServer(token: string): Promise<NatsServerHandle> {
  const server = await startNatsServer({ port: await pickFreePort(), args: ['--auth', token], skipReadyWait: true });
  await pollUntil(
    'the token-protected server to accept the token',
    10_000,
    async () => {
      await (await connect({ servers: server.url, token })).close();
      return true;
    },
    100,
  );
  return server;
}
