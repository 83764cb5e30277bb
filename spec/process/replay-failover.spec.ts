/**
 * Regression (bench/fleet.mjs node kill: "results 63/100 (sent during failover)"): the node that
 * leads stream EXEC and carries an agent's connection is killed, and a command for that agent is
 * published at once from a survivor. Before the fix the publisher's core publish + flush "succeeded"
 * while EXEC had no leader, nothing stored the command, and the agent, back on a survivor with its
 * replay consumer running again, never saw it. Now the publish is acknowledged by EXEC's new leader
 * and the agent runs it exactly once. The agent process is held with SIGSTOP from before the kill
 * until the publish returned, so the command can only reach it through replay.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import { replayDurableName, STREAM_EXEC, subjects } from '../../contract/index.js';
import { startCluster, type BrokerCluster } from '../harness/broker.js';
import { agentDir, pollUntil, spawnAgent, waitForStatus, type AgentDir, type AgentProcess } from './agent-process.js';

const PC = 'PC-FAILOVER';

let cluster: BrokerCluster;
let dir: AgentDir;
let agent: AgentProcess;
let survivor: NatsConnection | undefined;
let frozen = false;

beforeAll(async () => {
  cluster = await startCluster();
  dir = await agentDir(cluster.urls, PC);
  agent = spawnAgent(dir);
}, 180_000);

afterAll(async () => {
  if (frozen) process.kill(agent.pid, 'SIGCONT');
  agent?.kill('SIGKILL');
  await agent?.exited;
  await survivor?.close().catch(() => undefined);
  await cluster?.stop();
  await dir?.remove();
});

/** The server_name leading EXEC now, or undefined while none does. */
const execLeader = async (): Promise<string | undefined> => (await cluster.jsm.streams.info(STREAM_EXEC)).cluster?.leader || undefined;

describe('replay across a cluster failover', () => {
  it("a command published while EXEC's leader node (the agent's node) is down runs once on the agent when it is back", async () => {
    const ready = await waitForStatus(
      dir.socket,
      'the agent connected with its replay consumer running',
      (r) => r.connection.connected && JSON.stringify(r).includes('"replay":true'),
      120_000,
    );
    const node = cluster.cluster.nodes.find((n) => ready.connection.server!.endsWith(`:${n.port}`))!;
    expect(node).toBeDefined();
    // Make the agent's node the leader of EXEC (a step-down elects one of the others at random).
    await pollUntil(
      `${node.serverName} leading ${STREAM_EXEC}`,
      120_000,
      async () => {
        const leader = await execLeader();
        if (leader === node.serverName) return true;
        if (leader !== undefined) await cluster.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${STREAM_EXEC}`, '', { timeout: 5_000 });
        return false;
      },
      500,
    );
    const others = cluster.cluster.nodes.filter((n) => n !== node);
    survivor = await connect({
      servers: others.map((n) => `nats://127.0.0.1:${n.port}`),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });

    // The agent is frozen across the kill and the publish, so it cannot be back on a survivor (and get
    // the live copy) before the command is out: it must come from its replay consumer.
    process.kill(agent.pid, 'SIGSTOP');
    frozen = true;
    await node.kill();
    const cmd = draftCommand({ shell: 'sh', script: 'echo after-failover' });
    const ack = await publishCommand(survivor, subjects.commandsPc(PC), commandBytes(cmd), undefined, { deadlineMs: 120_000 });
    process.kill(agent.pid, 'SIGCONT');
    frozen = false;
    expect(ack.stream).toBe(STREAM_EXEC);

    // RESULTS and the consumer are read through the survivor (the test's own client may be on the dead node).
    const jsm = await jetstreamManager(survivor, { checkAPI: false });
    const resultCount = async () => {
      const info = await jsm.streams.info('RESULTS', { subjects_filter: subjects.results(cmd.request_id) });
      return info.state.subjects?.[subjects.results(cmd.request_id)] ?? 0;
    };
    await pollUntil('the result in RESULTS', 120_000, async () => (await resultCount()) >= 1, 200);
    // Exactly once: every copy the replay consumer got is acked (decided), and still one result.
    await pollUntil(
      'the replay copy acked',
      120_000,
      async () => {
        const info = await jsm.consumers.info(STREAM_EXEC, replayDurableName(PC));
        return info.ack_floor.stream_seq >= ack.seq && info.num_ack_pending === 0;
      },
      200,
    );
    expect(await resultCount()).toBe(1);
    const msg = await jsm.streams.getMessage('RESULTS', { last_by_subj: subjects.results(cmd.request_id) });
    expect(JSON.parse(msg!.string())).toMatchObject({ pc_id: PC, exit_code: 0, stdout: 'after-failover\n' });
  }, 400_000);
});
