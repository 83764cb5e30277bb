/**
 * The `inventory` machine with fake effects and a SimulatedClock: the schedule (first run within
 * 30 s of the first connect, then interval + 0..jitter), KV overrides of `[inventory]`, a failed
 * publish retried with backoff and at once on reconnect, an inventory collected while
 * disconnected published on the next connect, and the first run waiting (bounded) for the first
 * KV config sync.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { COLLECT_TIMEOUT_MS, CONFIG_SYNC_WAIT_MS, FIRST_RUN_JITTER_MS } from '../../machines/inventory-machine.js';
import { inventoryLogic } from '../../supervisor/children.js';
import { PermissionViolationError } from '@nats-io/transport-node';
import { isPublishRefusal, type PublishHwInput, type PublishHwOutput } from '../../actors/inventory/publish-hw.js';
import type { AgentServices, ConfigSyncState } from '../../actors/ports.js';
import type { InventoryReport } from '../../actors/inventory/collect-inventory.js';
import { inventorySettings } from '../../actors/inventory/watch-inventory-settings.js';
import { createTestServices, defaultEffectiveConfig } from '../config-kv/test-services.js';

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const HOUR_MS = 3_600_000;
/** What the `config` child has published once its boot walk finished (most tests start after it). */
const SYNCED: ConfigSyncState = { synced: true, lastError: null };

function report(pcId: string): InventoryReport {
  const at = new Date().toISOString();
  return {
    collected_at: at,
    hw: {
      pc_id: pcId,
      collected_at: at,
      hostname: 'h',
      os_name: 'Linux',
      os_version: '1',
      os_build: '1',
      cpu_model: 'cpu',
      cpu_cores: 2,
      ram_bytes: 1024,
      disks: [],
    },
    failures: [],
    durationMs: 1,
  };
}

function harness(
  opts: { failPublishes?: number; intervalMs?: number; jitterMs?: number; refuse?: boolean; configSync?: ConfigSyncState } = {},
) {
  const t = createTestServices('PC-inv-unit', {
    config: { inventory: { enabled: true, intervalMs: opts.intervalMs ?? 24 * HOUR_MS, jitterMs: opts.jitterMs ?? 0 } },
    configSync: opts.configSync ?? SYNCED,
  });
  const collections: number[] = [];
  const published: PublishHwInput[] = [];
  let failures = opts.failPublishes ?? 0;
  const clock = new SimulatedClock();
  const session = fromCallback<{ type: string }, AgentServices>(({ sendBack, receive }) => {
    receive(() => {
      collections.push(clock.now());
      sendBack({ type: 'inventory.collected', report: report('PC-inv-unit') });
    });
  });
  const publish = fromPromise<PublishHwOutput, PublishHwInput>(async ({ input }) => {
    if (failures > 0) {
      failures -= 1;
      throw new Error('flush not confirmed');
    }
    published.push(input);
    return { bytes: 1, refused: opts.refuse === true };
  });
  const machine = inventoryLogic.provide({ actors: { inventorySession: session, publishHw: publish } });
  const actor = createActor(machine, { input: t.services, clock }).start();
  return { t, clock, actor, collections, published };
}

describe('inventory machine (simulated clock)', () => {
  it('runs within 30 s of the first connect, then every interval; nothing before the first connect', async () => {
    const { t, clock, actor, collections, published } = harness({ intervalMs: 2 * HOUR_MS, jitterMs: 600_000 });
    clock.increment(HOUR_MS);
    expect(collections).toHaveLength(0);
    t.broker.connected({} as NatsConnection);
    expect(actor.getSnapshot().matches({ running: 'scheduled' })).toBe(true);
    expect(actor.getSnapshot().context.nextDelayMs).toBeLessThanOrEqual(FIRST_RUN_JITTER_MS);
    clock.increment(FIRST_RUN_JITTER_MS);
    await flush();
    expect(collections).toHaveLength(1);
    expect(published).toHaveLength(1);
    expect(actor.getSnapshot().context.status.nextDueAt).not.toBeNull();
    const next = actor.getSnapshot().context.nextDelayMs;
    expect(next).toBeGreaterThanOrEqual(2 * HOUR_MS);
    expect(next).toBeLessThanOrEqual(2 * HOUR_MS + 600_000);
    clock.increment(next - 1);
    await flush();
    expect(collections).toHaveLength(1);
    clock.increment(1);
    await flush();
    expect(collections).toHaveLength(2);
    actor.send({ type: 'shutdown' });
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a KV change of interval or jitter plans again from now; jitter "0s" runs the first inventory at once', async () => {
    const { t, clock, actor, collections } = harness({ jitterMs: 600_000 });
    t.broker.connected({} as NatsConnection);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_jitter_ms: 0, inventory_interval_ms: HOUR_MS });
    clock.increment(0);
    await flush();
    expect(collections).toHaveLength(1);
    clock.increment(HOUR_MS);
    await flush();
    expect(collections).toHaveLength(2);
    actor.send({ type: 'shutdown' });
  });

  it('KV inventory_enabled=false stops the schedule; true resumes it', async () => {
    const { t, clock, actor, collections } = harness();
    t.broker.connected({} as NatsConnection);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_enabled: false });
    expect(actor.getSnapshot().matches({ running: 'disabled' })).toBe(true);
    clock.increment(48 * HOUR_MS);
    await flush();
    expect(collections).toHaveLength(0);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_enabled: true });
    clock.increment(FIRST_RUN_JITTER_MS);
    await flush();
    expect(collections).toHaveLength(1);
    actor.send({ type: 'shutdown' });
  });

  it('a failed publish keeps the inventory and retries with backoff, and at once on reconnect', async () => {
    const { t, clock, actor, collections, published } = harness({ failPublishes: 2 });
    t.broker.connected({} as NatsConnection);
    clock.increment(FIRST_RUN_JITTER_MS);
    await flush();
    expect(actor.getSnapshot().matches({ running: 'retrying' })).toBe(true);
    expect(actor.getSnapshot().context.status.lastError).toBe('publish: flush not confirmed');
    clock.increment(1_250); // first retry: 1 s ± 25 %
    await flush();
    expect(actor.getSnapshot().matches({ running: 'retrying' })).toBe(true);
    t.broker.connected({ another: true } as unknown as NatsConnection); // reconnect: retry now
    await flush();
    expect(published).toHaveLength(1);
    expect(collections).toHaveLength(1); // the same inventory, not collected again
    expect(actor.getSnapshot().context.status.lastError).toBeNull();
    actor.send({ type: 'shutdown' });
  });

  it('collected while disconnected: published on the next connect', async () => {
    const { t, clock, actor, published } = harness();
    t.broker.connected({} as NatsConnection);
    t.broker.disconnected();
    clock.increment(FIRST_RUN_JITTER_MS);
    await flush();
    expect(actor.getSnapshot().matches({ running: 'awaitingBroker' })).toBe(true);
    expect(published).toHaveLength(0);
    t.broker.connected({ again: true } as unknown as NatsConnection);
    await flush();
    expect(published).toHaveLength(1);
    actor.send({ type: 'shutdown' });
  });

  it('a publish the broker refuses (permissions) is logged, not retried, and shows in status', async () => {
    const { t, clock, actor, published } = harness({ refuse: true });
    t.broker.connected({} as NatsConnection);
    clock.increment(FIRST_RUN_JITTER_MS);
    await flush();
    expect(published).toHaveLength(1);
    expect(actor.getSnapshot().matches({ running: 'scheduled' })).toBe(true);
    expect(actor.getSnapshot().context.status.lastError).toContain("refused by the broker's permissions on inventory.PC-inv-unit.hw");
    expect(actor.getSnapshot().context.status.lastPublishedAt).toBeNull();
    expect(t.logs.some((l) => l.msg.includes('refused by the broker'))).toBe(true);
    actor.send({ type: 'shutdown' });
  });

  it('a collection that never answers is abandoned after the timeout; the schedule goes on', async () => {
    const t = createTestServices('PC-inv-hang', { configSync: SYNCED });
    const clock = new SimulatedClock();
    let requests = 0;
    const hung = fromCallback<{ type: string }, AgentServices>(({ receive }) => {
      receive(() => {
        requests += 1;
      });
    });
    const actor = createActor(inventoryLogic.provide({ actors: { inventorySession: hung } }), { input: t.services, clock }).start();
    t.broker.connected({} as NatsConnection);
    clock.increment(FIRST_RUN_JITTER_MS);
    expect(actor.getSnapshot().matches({ running: 'collecting' })).toBe(true);
    clock.increment(COLLECT_TIMEOUT_MS);
    expect(actor.getSnapshot().matches({ running: 'scheduled' })).toBe(true);
    expect(actor.getSnapshot().context.status.lastError).toContain('did not finish');
    clock.increment(24 * HOUR_MS + 600_000);
    expect(requests).toBe(2);
    actor.send({ type: 'shutdown' });
  });

  it('a KV disable that arrives during a run holds: no next run is planned after it', async () => {
    const t = createTestServices('PC-inv-mid', {
      configSync: SYNCED,
      config: { inventory: { enabled: true, intervalMs: HOUR_MS, jitterMs: 0 } },
    });
    const clock = new SimulatedClock();
    const answers: Array<() => void> = [];
    const slow = fromCallback<{ type: string }, AgentServices>(({ receive, sendBack }) => {
      receive(() => answers.push(() => sendBack({ type: 'inventory.collected', report: report('PC-inv-mid') })));
    });
    const publish = fromPromise<PublishHwOutput, PublishHwInput>(async () => ({ bytes: 1, refused: false }));
    const actor = createActor(inventoryLogic.provide({ actors: { inventorySession: slow, publishHw: publish } }), {
      input: t.services,
      clock,
    }).start();
    t.broker.connected({} as NatsConnection);
    clock.increment(0);
    expect(actor.getSnapshot().matches({ running: 'collecting' })).toBe(true);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_enabled: false });
    answers.shift()?.();
    await flush();
    expect(actor.getSnapshot().matches({ running: 'disabled' })).toBe(true);
    clock.increment(48 * HOUR_MS);
    expect(answers).toHaveLength(0); // no second collection requested
    actor.send({ type: 'shutdown' });
  });

  it('recognises the server refusing a publish on the inventory subject', () => {
    const refusal = new PermissionViolationError('Permissions Violation for Publish to "inventory.PC.hw"', 'publish', 'inventory.PC.hw');
    expect(isPublishRefusal({ type: 'error', error: refusal }, 'inventory.PC.hw')).toBe(true);
    expect(isPublishRefusal({ type: 'error', error: refusal }, 'inventory.OTHER.hw')).toBe(false);
    expect(isPublishRefusal({ type: 'error', error: new Error('x') }, 'inventory.PC.hw')).toBe(false);
  });

  it('settings: agent.toml [inventory] unless the effective config sets inventory_*', () => {
    const local = { enabled: true, intervalMs: 24 * HOUR_MS, jitterMs: 600_000 };
    expect(inventorySettings(local, defaultEffectiveConfig())).toEqual({ enabled: true, intervalMs: 24 * HOUR_MS, jitterMs: 600_000 });
    expect(
      inventorySettings(local, {
        ...defaultEffectiveConfig(),
        inventory_interval_ms: HOUR_MS,
        inventory_jitter_ms: 0,
        inventory_enabled: false,
      }),
    ).toEqual({ enabled: false, intervalMs: HOUR_MS, jitterMs: 0 });
  });
});

describe('inventory machine: the first run waits for the first KV config sync (bounded)', () => {
  const notSynced: ConfigSyncState = { synced: false, lastError: null };

  it('waits past its jitter for the sync; KV inventory_enabled=false read meanwhile means no run at all', async () => {
    const { t, clock, actor, collections } = harness({ jitterMs: 0, configSync: notSynced });
    t.broker.connected({} as NatsConnection);
    clock.increment(CONFIG_SYNC_WAIT_MS - 1);
    await flush();
    expect(collections).toHaveLength(0); // jitter 0 would have run at once
    expect(actor.getSnapshot().matches({ running: 'awaitingConfig' })).toBe(true);
    // The config child's walk ends: hubs first, then the sync flag.
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_enabled: false });
    t.services.configSync.set(SYNCED);
    expect(actor.getSnapshot().matches({ running: 'disabled' })).toBe(true);
    clock.increment(48 * HOUR_MS);
    await flush();
    expect(collections).toHaveLength(0);
    expect(t.logs.some((l) => String(l.msg).includes('KV config not read'))).toBe(false);
    actor.send({ type: 'shutdown' });
  });

  it('once synced, plans the first run (0..min(30 s, jitter)) from then with the KV settings', async () => {
    const { t, clock, actor, collections } = harness({ jitterMs: 600_000, configSync: notSynced });
    t.broker.connected({} as NatsConnection);
    clock.increment(5_000);
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_interval_ms: HOUR_MS });
    t.services.configSync.set(SYNCED);
    expect(actor.getSnapshot().matches({ running: 'scheduled' })).toBe(true);
    expect(actor.getSnapshot().context.nextDelayMs).toBeLessThanOrEqual(FIRST_RUN_JITTER_MS);
    clock.increment(FIRST_RUN_JITTER_MS);
    await flush();
    expect(collections).toHaveLength(1);
    expect(actor.getSnapshot().context.nextDelayMs).toBeGreaterThanOrEqual(HOUR_MS); // the KV interval
    expect(actor.getSnapshot().context.nextDelayMs).toBeLessThanOrEqual(HOUR_MS + 600_000);
    actor.send({ type: 'shutdown' });
  });

  it('KV unreadable: after CONFIG_SYNC_WAIT_MS it runs with agent.toml [inventory], logs why once, and KV applies when read', async () => {
    const { t, clock, actor, collections, published } = harness({
      jitterMs: 0,
      intervalMs: HOUR_MS,
      configSync: { synced: false, lastError: 'KV buckets missing: stream not found' },
    });
    t.broker.connected({} as NatsConnection);
    clock.increment(CONFIG_SYNC_WAIT_MS - 1);
    await flush();
    expect(collections).toHaveLength(0);
    clock.increment(1);
    clock.increment(0); // the first run's jitter is 0 here
    await flush();
    expect(collections).toHaveLength(1);
    expect(published).toHaveLength(1);
    const why = t.logs.filter((l) => String(l.msg).includes('KV config not read'));
    expect(why).toHaveLength(1);
    expect(why[0]).toMatchObject({ level: 40, child: 'inventory', reason: 'KV buckets missing: stream not found', enabled: true });
    // Later runs do not wait or log again.
    t.broker.disconnected();
    t.broker.connected({ again: true } as unknown as NatsConnection);
    clock.increment(HOUR_MS);
    await flush();
    expect(collections).toHaveLength(2);
    expect(t.logs.filter((l) => String(l.msg).includes('KV config not read'))).toHaveLength(1);
    // The KV is read at last: its disable applies at once.
    t.services.effectiveConfig.set({ ...defaultEffectiveConfig(), inventory_enabled: false });
    t.services.configSync.set(SYNCED);
    expect(actor.getSnapshot().matches({ running: 'disabled' })).toBe(true);
    actor.send({ type: 'shutdown' });
  });

  it('a child started after the sync (a restart) does not wait; a reconnect does not wait again', async () => {
    const { t, clock, actor, collections } = harness({ jitterMs: 0, intervalMs: HOUR_MS });
    t.broker.connected({} as NatsConnection);
    clock.increment(0);
    await flush();
    expect(collections).toHaveLength(1);
    t.broker.disconnected();
    t.broker.connected({ again: true } as unknown as NatsConnection);
    expect(actor.getSnapshot().matches({ running: 'scheduled' })).toBe(true);
    actor.send({ type: 'shutdown' });
  });
});
