/**
 * The connection child against real brokers: absent at boot, restarted, and a 3-node cluster
 * losing the node the agent uses. Observed through the status socket with bounded polls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pickFreePort } from '../../devtools/dev-broker/nats-server.js';
import { runCli } from '../cli/run-cli.js';
import { startBroker, startCluster, type Broker, type BrokerCluster } from '../harness/broker.js';
import { agentDir, connectionRow, readStatus, spawnAgent, waitForStatus, type AgentDir, type AgentProcess } from './agent-process.js';

/** The goal: connected again within 5 s of a broker (or another node) being available. */
const RECONNECT_BOUND_MS = 5_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function track(agent: AgentProcess, dir: AgentDir): void {
  cleanups.push(async () => {
    agent.kill('SIGKILL');
    await agent.exited;
  });
  cleanups.push(() => dir.remove());
}

describe('connection', () => {
  it('boots without a broker, stays up degraded, connects once the broker appears, and reconnects after a broker restart', async () => {
    const port = await pickFreePort();
    const dir = await agentDir([`nats://127.0.0.1:${port}`]);
    const agent = spawnAgent(dir);
    track(agent, dir);

    const waiting = await waitForStatus(dir.socket, 'agent answering while the broker is absent', () => true);
    expect(waiting.connection.connected).toBe(false);
    expect(waiting.health).toBe('degraded');
    expect(connectionRow(waiting)).toMatchObject({ phase: 'running', state: { live: 'connecting' }, tags: ['degraded'] });
    const degraded = await runCli(['status', '--config', dir.configPath]);
    expect(degraded.code).toBe(1);
    expect(degraded.stdout).toContain('connection DISCONNECTED');

    const broker: Broker = await startBroker({ port });
    cleanups.push(() => broker.stop());
    const connected = await waitForStatus(
      dir.socket,
      'connected after the broker appeared',
      (r) => r.connection.connected,
      RECONNECT_BOUND_MS,
    );
    expect(connected.connection.server).toBe(`127.0.0.1:${port}`);
    expect(connectionRow(connected).restarts).toBe(0);

    await broker.server.restart();
    const back = await waitForStatus(
      dir.socket,
      'reconnected after a broker restart',
      (r) => r.connection.connected && (connectionRow(r).status as { reconnects: number }).reconnects >= 1,
      RECONNECT_BOUND_MS,
    );
    expect(connectionRow(back)).toMatchObject({ phase: 'running', restarts: 0, state: { live: 'connected' } });
    expect(agent.output.stdout).toContain('reconnected to NATS');
  });

  it('fails over to another node of a 3-node cluster when its node is killed', async () => {
    const cluster: BrokerCluster = await startCluster();
    cleanups.push(() => cluster.stop());
    const dir = await agentDir(cluster.urls);
    const agent = spawnAgent(dir);
    track(agent, dir);

    const first = await waitForStatus(dir.socket, 'connected to the cluster', (r) => r.connection.connected);
    const server = first.connection.server!;
    const node = cluster.cluster.nodes.find((n) => server.endsWith(`:${n.port}`));
    expect(node).toBeDefined();
    await node!.kill();

    const moved = await waitForStatus(
      dir.socket,
      'connected to another node',
      (r) => r.connection.connected && r.connection.server !== server,
      RECONNECT_BOUND_MS,
    );
    expect(cluster.urls.some((url) => url.endsWith(moved.connection.server!.split(':').pop()!))).toBe(true);
    expect(connectionRow(moved).restarts).toBe(0);
    expect((await readStatus(dir.socket))?.connection.connected).toBe(true);
  });
});
