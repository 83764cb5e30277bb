/**
 * The `heartbeat` child against a real broker (contract §5.4, §5.8): first beat on connect with the
 * required fields, the interval from KV `agent_config/global` applied live (through the real
 * `config` child), ping replies without perf fields or protocols, and `agent_online` enqueued once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { startBroker, type Broker } from '../harness/broker.js';
import {
  COMMAND_PROTOCOLS,
  decodeHeartbeat,
  decodeObsEvent,
  encodeObsEvent,
  parseRfc3339,
  subjects,
  type Heartbeat,
} from '../../contract/index.js';
import { effectiveConfigLogic, heartbeatLogic } from '../../supervisor/children.js';
import { logicalCpuCount } from '../../actors/kv-config/host-cpu.js';
import { createTestServices, pollUntil } from '../config-kv/test-services.js';

const FIRST_BEAT_MS = 2_000;

describe('heartbeat child (real broker)', () => {
  let broker: Broker;
  let nc: NatsConnection;

  beforeAll(async () => {
    broker = await startBroker();
    nc = await broker.connect();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('beats within 2 s of connect with the required fields, announces agent_online once, and answers pings', async () => {
    const pc = 'PC-hb-01';
    const beats: Array<{ beat: Heartbeat; raw: Record<string, unknown> }> = [];
    const sub = broker.nc.subscribe(subjects.heartbeat(pc), {
      callback: (_err, msg) => {
        const decoded = decodeHeartbeat(msg.data);
        if (decoded.ok) beats.push({ beat: decoded.value, raw: msg.json() });
      },
    });
    await broker.nc.flush();
    const t = createTestServices(pc);
    const actor = createActor(heartbeatLogic, { input: t.services }).start();
    try {
      const connectedAt = Date.now();
      t.broker.connected(nc);
      await pollUntil('first heartbeat', FIRST_BEAT_MS, () => beats.length >= 1);
      const first = beats[0] as { beat: Heartbeat; raw: Record<string, unknown> };
      expect(Date.now() - connectedAt).toBeLessThan(FIRST_BEAT_MS);
      expect(first.beat).toMatchObject({
        pc_id: pc,
        agent_version: '0.1.0-test',
        command_keys: [],
        enforcing: false,
        command_protocols: [...COMMAND_PROTOCOLS],
        os_family: 'linux',
      });
      expect(typeof first.beat.hostname).toBe('string');
      expect(Math.abs((parseRfc3339(first.beat.at) as number) - Date.now())).toBeLessThan(10_000);
      expect(first.beat.agent_rss_bytes).toBeGreaterThan(0);
      expect('agent_cpu_pct' in first.raw).toBe(false); // absent on the first tick
      expect('quarantined_versions' in first.raw).toBe(false);

      // Ping: a fresh heartbeat without agent_* perf fields and without command_protocols.
      const reply = await broker.nc.request(subjects.ping(pc), 'anything', { timeout: 2_000 });
      const pong = reply.json<Record<string, unknown>>();
      expect(decodeHeartbeat(reply.data).ok).toBe(true);
      expect(pong).toMatchObject({ pc_id: pc, agent_version: '0.1.0-test', command_keys: [], enforcing: false, os_family: 'linux' });
      expect(Object.keys(pong).filter((k) => k.startsWith('agent_') && k !== 'agent_version')).toEqual([]);
      expect('command_protocols' in pong).toBe(false);
      await pollUntil('ping counted', 1_000, () => actor.getSnapshot().context.status.pingsAnswered === 1);

      // agent_online went to the obs outbox, once, in the contract's shape.
      await pollUntil('agent_online enqueued', 1_000, () => t.obs.messages.length === 1);
      const online = t.obs.messages[0];
      expect(decodeObsEvent(encodeObsEvent(online!)).ok).toBe(true);
      expect(online).toMatchObject({ pc_id: pc, kind: 'agent_online', source: 'agent:startup', payload: { agent_version: '0.1.0-test' } });
      expect(online?.event_record_id).toMatch(/^startup_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    } finally {
      actor.send({ type: 'shutdown' });
      sub.unsubscribe();
    }
    expect(actor.getSnapshot().status).toBe('done');

    // A restarted heartbeat child in the same agent run does not announce again.
    const again = createActor(heartbeatLogic, { input: t.services }).start();
    await pollUntil('announce settled', 1_000, () => again.getSnapshot().matches({ running: { announce: 'done' } }));
    again.send({ type: 'shutdown' });
    expect(t.obs.messages).toHaveLength(1);
  });

  it('follows heartbeat_interval from KV agent_config/global: three consecutive gaps under 3 s', async () => {
    const pc = 'PC-hb-02';
    const arrivals: number[] = [];
    let cpuSeen = false;
    const sub = broker.nc.subscribe(subjects.heartbeat(pc), {
      callback: (_err, msg) => {
        arrivals.push(Date.now());
        if (typeof msg.json<Heartbeat>().agent_cpu_pct === 'number') cpuSeen = true;
      },
    });
    await broker.nc.flush();
    const kv = await broker.kvm.open('agent_config');
    const t = createTestServices(pc);
    const config = createActor(effectiveConfigLogic, { input: { ...t.services, logicalCpus: logicalCpuCount() } }).start();
    const heartbeat = createActor(heartbeatLogic, { input: t.services }).start();
    try {
      t.broker.connected(nc);
      await pollUntil('first heartbeat', FIRST_BEAT_MS, () => arrivals.length >= 1);
      await kv.put('global', JSON.stringify({ heartbeat_interval: '1s' }));
      await pollUntil('interval applied', 5_000, () => heartbeat.getSnapshot().context.intervalMs === 1_000);
      const from = arrivals.length;
      await pollUntil('four more beats', 8_000, () => arrivals.length >= from + 4);
      const gaps = arrivals
        .slice(from, from + 4)
        .slice(1)
        .map((at, i) => at - (arrivals[from + i] as number));
      expect(gaps).toHaveLength(3);
      for (const gap of gaps) expect(gap).toBeLessThan(3_000);
      expect(cpuSeen).toBe(true); // from the second tick on
      expect(heartbeat.getSnapshot().context.status.beats).toBeGreaterThanOrEqual(5);
    } finally {
      heartbeat.send({ type: 'shutdown' });
      config.send({ type: 'shutdown' });
      sub.unsubscribe();
      await kv.delete('global');
    }
  });
});
