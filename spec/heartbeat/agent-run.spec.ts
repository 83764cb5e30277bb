/**
 * Process level: `kanade-agent run` against a real broker with `{"heartbeat_interval":"1s"}` (and
 * `"inventory_jitter":"0s"`) in KV `agent_config/global`: heartbeats at the KV interval, a ping
 * reply, `agent_online` in stream OBS_EVENTS, the hw inventory in stream INVENTORY, and the three
 * children's summaries in `kanade-agent status`. The supervisor's crash tests arm `heartbeat.tick`.
 * KV `inventory_enabled=false` holds from the very first run: the inventory waits for the first
 * KV config sync (a slow KV walk, failpoint `config.kv_walk=sleep…`, and a 0 s start delay).
 */
import { appendFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../harness/broker.js';
import { decodeHeartbeat, decodeHwInventory, decodeObsEvent, STREAM_INVENTORY, STREAM_OBS_EVENTS, subjects } from '../../contract/index.js';
import { agentDir, spawnAgent, waitForStatus, type AgentDir, type AgentProcess } from '../process/agent-process.js';
import { pollUntil } from '../config-kv/test-services.js';

const PC = 'PC-run-06';

describe('kanade-agent run: heartbeat, config and inventory children', () => {
  let broker: Broker;
  let dir: AgentDir;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    broker = await startBroker();
    dir = await agentDir([broker.url], PC);
  });
  afterAll(async () => {
    agent?.kill('SIGTERM');
    await agent?.exited;
    await broker?.stop();
    await dir?.remove();
  });

  it('beats at the KV interval, answers pings, announces agent_online and publishes hw', async () => {
    const kv = await broker.kvm.open('agent_config');
    await kv.put('global', JSON.stringify({ heartbeat_interval: '1s', inventory_jitter: '0s' }));
    const arrivals: number[] = [];
    const sub = broker.nc.subscribe(subjects.heartbeat(PC), {
      callback: (_err, msg) => {
        if (decodeHeartbeat(msg.data).ok) arrivals.push(Date.now());
      },
    });
    await broker.nc.flush();

    agent = spawnAgent(dir);
    try {
      await pollUntil('first heartbeat', 20_000, () => arrivals.length >= 1);
      await pollUntil('three more heartbeats', 10_000, () => arrivals.length >= 4);
      const last = arrivals.slice(-4);
      for (let i = 1; i < last.length; i += 1) expect((last[i] as number) - (last[i - 1] as number)).toBeLessThan(3_000);

      const reply = await broker.nc.request(subjects.ping(PC), '', { timeout: 5_000 });
      const pong = reply.json<Record<string, unknown>>();
      expect(pong.pc_id).toBe(PC);
      expect('command_protocols' in pong).toBe(false);
      expect('agent_rss_bytes' in pong).toBe(false);

      const online = await pollUntil('agent_online in OBS_EVENTS', 15_000, async () => {
        const msg = await broker.jsm.streams.getMessage(STREAM_OBS_EVENTS, { last_by_subj: subjects.obs(PC) });
        return msg ?? undefined;
      });
      const event = decodeObsEvent(online.data);
      expect(event.ok && event.value).toMatchObject({ pc_id: PC, kind: 'agent_online', source: 'agent:startup' });

      const hwMsg = await pollUntil('hw in INVENTORY', 20_000, async () => {
        const msg = await broker.jsm.streams.getMessage(STREAM_INVENTORY, { last_by_subj: subjects.inventoryHw(PC) });
        return msg ?? undefined;
      });
      const hw = decodeHwInventory(hwMsg.data);
      expect(hw.ok && hw.value.pc_id).toBe(PC);

      const report = await waitForStatus(dir.socket, 'children summaries', (r) => {
        const inventory = r.children.find((c) => c.id === 'inventory')?.status as { last_published_at?: string | null } | undefined;
        return typeof inventory?.last_published_at === 'string';
      });
      const row = (id: string) => report.children.find((c) => c.id === id);
      expect(row('config')?.status).toMatchObject({ synced: true, effective: { heartbeat_interval_ms: 1_000 } });
      expect((row('heartbeat')?.status as { beats: number }).beats).toBeGreaterThanOrEqual(4);
      expect(row('heartbeat')?.status).toMatchObject({ interval_ms: 1_000, online: 'enqueued' });
    } finally {
      sub.unsubscribe();
      agent.kill('SIGTERM');
      const exit = await agent.exited;
      expect(exit.code).toBe(0);
      await kv.delete('global');
    }
  });

  it('after a broker restart: beats again and follows KV changes made after the reconnect', async () => {
    const kv = await broker.kvm.open('agent_config');
    await kv.put('global', JSON.stringify({ heartbeat_interval: '1s', inventory_enabled: false }));
    const restartDir = await agentDir([broker.url], `${PC}-r`);
    const beats: number[] = [];
    const sub = broker.nc.subscribe(subjects.heartbeat(`${PC}-r`), {
      callback: () => {
        beats.push(Date.now());
      },
    });
    await broker.nc.flush();
    const proc = spawnAgent(restartDir);
    try {
      await pollUntil('first heartbeat', 20_000, () => beats.length >= 1);
      await broker.restart();
      const restartedAt = Date.now();
      // The test client reconnects on its own; until it has, its requests fail.
      const retrying = (what: string, op: () => Promise<unknown>) =>
        pollUntil(what, 20_000, () =>
          op().then(
            () => true,
            () => false,
          ),
        );
      await retrying('test client back', () => broker.nc.flush());
      await pollUntil('a heartbeat after the restart', 30_000, () => beats.some((at) => at > restartedAt));
      await retrying('KV put after the restart', async () =>
        (await broker.kvm.open('agent_config')).put('global', JSON.stringify({ heartbeat_interval: '2s', inventory_enabled: false })),
      );
      const report = await waitForStatus(
        restartDir.socket,
        'interval 2 s after reconnect',
        (r) => {
          const hb = r.children.find((c) => c.id === 'heartbeat')?.status as { interval_ms?: number } | undefined;
          return hb?.interval_ms === 2_000;
        },
        30_000,
      );
      // KV said disabled before the agent started: the first run waited for the KV config (not a race with the 0–30 s jitter).
      const inventory = report.children.find((c) => c.id === 'inventory');
      expect(inventory?.status).toMatchObject({ enabled: false, runs: 0 });
      expect(inventory?.state).toEqual({ running: 'disabled' });
    } finally {
      sub.unsubscribe();
      proc.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
      await restartDir.remove();
      await (await broker.kvm.open('agent_config')).delete('global').catch(() => undefined);
    }
  });

  it('KV inventory_enabled=false written before the start holds for the first run, even with a slow KV read and no start delay', async () => {
    const pc = `${PC}-kv-first`;
    const kv = await broker.kvm.open('agent_config');
    await kv.put(`pcs.${pc}`, JSON.stringify({ inventory_enabled: false }));
    const firstDir = await agentDir([broker.url], pc);
    // No start delay: the first run is decided the moment the inventory child sees the connection.
    await appendFile(firstDir.configPath, '[inventory]\njitter = "0s"\n');
    // The KV walk takes 3 s: the old inventory ran (and published) long before KV said "disabled".
    const proc = spawnAgent(firstDir, { KANADE_FAILPOINTS: 'config.kv_walk=sleep3000' });
    try {
      const report = await waitForStatus(
        firstDir.socket,
        'config synced and inventory disabled',
        (r) => {
          const config = r.children.find((c) => c.id === 'config')?.status as { synced?: boolean } | undefined;
          const inventory = r.children.find((c) => c.id === 'inventory');
          return config?.synced === true && JSON.stringify(inventory?.state) === JSON.stringify({ running: 'disabled' });
        },
        30_000,
      );
      expect(report.children.find((c) => c.id === 'inventory')?.status).toMatchObject({ enabled: false, runs: 0, last_run_at: null });
      expect(await broker.jsm.streams.getMessage(STREAM_INVENTORY, { last_by_subj: subjects.inventoryHw(pc) })).toBeNull();
    } finally {
      proc.kill('SIGTERM');
      expect((await proc.exited).code).toBe(0);
      await firstDir.remove();
      await kv.delete(`pcs.${pc}`).catch(() => undefined);
    }
  });
});
