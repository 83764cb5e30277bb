/**
 * The `heartbeat` machine with fake effects and a SimulatedClock: no beat while disconnected, a
 * beat on every connect, the interval applied from the next tick, failed publishes retried at the
 * next tick, the `heartbeat.tick` failpoint crashing the child, and agent_online retried.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { heartbeatLogic } from '../../supervisor/children.js';
import { MAX_TIMER_MS } from '../../contract/index.js';
import {
  createPublishHeartbeat,
  type PublishHeartbeatInput,
  type PublishHeartbeatOutput,
} from '../../actors/heartbeat/publish-heartbeat.js';
import { buildHeartbeat } from '../../actors/heartbeat/build-heartbeat.js';
import { samplePerf } from '../../actors/heartbeat/perf-sample.js';
import { createFailpoints } from '../../actors/failpoints.js';
import type { ServePingInput } from '../../actors/heartbeat/serve-ping.js';
import { createTestServices, defaultEffectiveConfig } from '../config-kv/test-services.js';

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function harness(
  result: () => PublishHeartbeatOutput = () => ({ ok: true, at: new Date().toISOString(), sample: { wallUs: 1, cpuUs: 1 } }),
) {
  const ticks: PublishHeartbeatInput[] = [];
  const publish = fromPromise<PublishHeartbeatOutput, PublishHeartbeatInput>(async ({ input }) => {
    ticks.push(input);
    return result();
  });
  const noPing = fromCallback<{ type: string }, ServePingInput>(() => () => undefined);
  const t = createTestServices('PC-hb-unit');
  const clock = new SimulatedClock();
  const actor = createActor(heartbeatLogic.provide({ actors: { publishHeartbeat: publish, servePing: noPing } }), {
    input: t.services,
    clock,
  }).start();
  return { t, clock, actor, ticks };
}

describe('heartbeat machine (simulated clock)', () => {
  it('publishes nothing while disconnected; beats on connect and every interval', async () => {
    const { t, clock, actor, ticks } = harness();
    clock.increment(120_000);
    await flush();
    expect(ticks).toHaveLength(0);
    expect(actor.getSnapshot().hasTag('degraded')).toBe(true);

    t.broker.connected({} as NatsConnection);
    await flush();
    expect(ticks).toHaveLength(1);
    expect(ticks[0]?.previous).toBeNull();
    expect(actor.getSnapshot().context.status.nextDueAt).not.toBeNull();
    clock.increment(29_999);
    await flush();
    expect(ticks).toHaveLength(1);
    clock.increment(1);
    await flush();
    expect(ticks).toHaveLength(2);
    expect(ticks[1]?.previous).toEqual({ wallUs: 1, cpuUs: 1 }); // the CPU delta base is carried

    // Disconnect: the pending tick is dropped, nothing queued; reconnect beats at once.
    t.broker.disconnected();
    clock.increment(60_000);
    await flush();
    expect(ticks).toHaveLength(2);
    t.broker.connected({ reconnected: true } as unknown as NatsConnection);
    await flush();
    expect(ticks).toHaveLength(3);
    expect(actor.getSnapshot().context.status.beats).toBe(3);
    actor.send({ type: 'shutdown' });
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a shorter interval applies from the next tick; a longer one after the pending tick', async () => {
    const { t, clock, actor, ticks } = harness();
    t.broker.connected({} as NatsConnection);
    await flush();
    clock.increment(10_000);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), heartbeat_interval_ms: 1_000 });
    clock.increment(999);
    await flush();
    expect(ticks).toHaveLength(1);
    clock.increment(1);
    await flush();
    expect(ticks).toHaveLength(2);
    clock.increment(1_000);
    await flush();
    expect(ticks).toHaveLength(3);

    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), heartbeat_interval_ms: 60_000 });
    clock.increment(1_000); // the pending 1 s tick still fires
    await flush();
    expect(ticks).toHaveLength(4);
    clock.increment(59_999);
    await flush();
    expect(ticks).toHaveLength(4);
    clock.increment(1);
    await flush();
    expect(ticks).toHaveLength(5);
    actor.send({ type: 'shutdown' });
  });

  it("a 30-day interval from KV is clamped to setTimeout's ceiling (review finding: it used to fire every millisecond)", async () => {
    const t = createTestServices('PC-hb-long');
    const simulated = new SimulatedClock();
    const delays: number[] = [];
    const clock = {
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
        delays.push(ms);
        return simulated.setTimeout(fn, ms);
      },
      clearTimeout: (id: number) => simulated.clearTimeout(id),
    };
    const publish = fromPromise<PublishHeartbeatOutput, PublishHeartbeatInput>(async () => ({
      ok: true,
      at: new Date().toISOString(),
      sample: { wallUs: 1, cpuUs: 1 },
    }));
    const noPing = fromCallback<{ type: string }, ServePingInput>(() => () => undefined);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), heartbeat_interval_ms: 30 * 86_400_000 });
    const actor = createActor(heartbeatLogic.provide({ actors: { publishHeartbeat: publish, servePing: noPing } }), {
      input: t.services,
      clock,
    }).start();
    t.broker.connected({} as NatsConnection);
    await flush();
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBe(MAX_TIMER_MS);
    actor.send({ type: 'shutdown' });
  });

  it('a failed publish is recorded and retried at the next tick, not a crash', async () => {
    let fail = true;
    const { t, clock, actor, ticks } = harness(() =>
      fail ? { ok: false, error: 'connection closed', sample: null } : { ok: true, at: 'x', sample: null as never },
    );
    t.broker.connected({} as NatsConnection);
    await flush();
    expect(actor.getSnapshot().status).toBe('active');
    expect(actor.getSnapshot().context.status.lastError).toBe('connection closed');
    expect(t.logs.some((l) => String(l.msg).includes('heartbeat publish failed'))).toBe(true);
    fail = false;
    clock.increment(30_000);
    await flush();
    expect(ticks).toHaveLength(2);
    expect(actor.getSnapshot().context.status).toMatchObject({ beats: 1, lastError: null });
    actor.send({ type: 'shutdown' });
  });

  it('the heartbeat.tick failpoint crashes the child (for the supervisor tests)', async () => {
    const t = createTestServices('PC-hb-fp', { failpoints: createFailpoints('heartbeat.tick=throw') });
    const noPing = fromCallback<{ type: string }, ServePingInput>(() => () => undefined);
    const actor = createActor(heartbeatLogic.provide({ actors: { servePing: noPing, publishHeartbeat: createPublishHeartbeat() } }), {
      input: t.services,
      clock: new SimulatedClock(),
    });
    let crashed: unknown;
    actor.subscribe({
      error: (err) => {
        crashed = err;
      },
    });
    actor.start();
    t.broker.connected({ isClosed: () => false, publish: () => undefined } as unknown as NatsConnection);
    await flush();
    expect(actor.getSnapshot().status).toBe('error');
    expect(String(crashed)).toContain('failpoint heartbeat.tick triggered');
  });

  it('retries agent_online when the outbox write fails', async () => {
    const t = createTestServices('PC-hb-obs');
    t.obs.failNext = 1;
    const clock = new SimulatedClock();
    const actor = createActor(heartbeatLogic, { input: t.services, clock }).start();
    await flush();
    expect(actor.getSnapshot().context.status.online).toBe('retrying');
    expect(t.obs.messages).toHaveLength(0);
    clock.increment(1_250);
    await flush();
    expect(t.obs.messages).toHaveLength(1);
    expect(actor.getSnapshot().context.status.online).toBe('enqueued');
    actor.send({ type: 'shutdown' });
  });
});

describe('heartbeat payload', () => {
  it('periodic beats carry protocols and perf; ping replies neither; CPU % only from the second sample', () => {
    const keys = { command_keys: ['k1:0123456789abcdef'], enforcing: true };
    const first = samplePerf(null);
    expect(first.cpuPct).toBeUndefined();
    let burn = 0;
    for (let i = 0; i < 2e6; i += 1) burn += i;
    expect(burn).toBeGreaterThan(0);
    const second = samplePerf(first.sample);
    expect(second.cpuPct).toBeGreaterThanOrEqual(0);
    expect(second.diskReadBytes).toBeGreaterThanOrEqual(0); // Linux: /proc/self/io is readable here

    const periodic = buildHeartbeat({ pcId: 'P', agentVersion: '1', keys, kind: 'periodic', perf: second, atMs: 0 });
    expect(periodic).toMatchObject({
      command_keys: ['k1:0123456789abcdef'],
      enforcing: true,
      command_protocols: ['legacy', 'kanade.command.v2'],
      at: '1970-01-01T00:00:00.000Z',
    });
    expect(periodic.agent_cpu_pct).toBe(second.cpuPct);
    const ping = buildHeartbeat({ pcId: 'P', agentVersion: '1', keys, kind: 'ping', perf: second, atMs: 0 });
    expect(Object.keys(ping).filter((k) => k.startsWith('agent_') && k !== 'agent_version')).toEqual([]);
    expect(ping.command_protocols).toBeUndefined();
  });
});
