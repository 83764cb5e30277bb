/**
 * The `config` machine with fake actors and a SimulatedClock, and the pure layer fold: the §4
 * retry schedule, the reconnect wake-up, replays skipped by revision, deletes and bad entries.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { effectiveConfigLogic } from '../../supervisor/children.js';
import { logicalCpuCount } from '../../actors/kv-config/host-cpu.js';
import { applyKvEntry, emptyLayerState, resolveLayers, type KvEntryEvent, type LayerState } from '../../domain/config-layers.js';
import type { WatchKvConfigInput } from '../../actors/kv-config/watch-kv-config.js';
import { resourceRetryDelayMs } from '../../domain/resource-backoff.js';
import { createTestServices } from './test-services.js';

const PC = 'PC-unit';

function fold(entries: KvEntryEvent[], state: LayerState = emptyLayerState()): { state: LayerState; warnings: string[] } {
  const warnings: string[] = [];
  for (const entry of entries) {
    const applied = applyKvEntry(state, entry, PC);
    state = applied.state;
    warnings.push(...applied.warnings);
  }
  return { state, warnings };
}

const put = (bucket: KvEntryEvent['bucket'], key: string, revision: number, value: unknown): KvEntryEvent => ({
  bucket,
  key,
  revision,
  operation: 'PUT',
  value: typeof value === 'string' ? value : JSON.stringify(value),
});

describe('layer fold', () => {
  it('skips entries at or below the key high-water mark (walk/watch overlap, replays)', () => {
    const { state } = fold([
      put('config', 'global', 5, { heartbeat_interval: '5s' }),
      put('config', 'global', 5, { heartbeat_interval: '9s' }), // replay of the same revision
      put('config', 'global', 4, { heartbeat_interval: '7s' }), // older
    ]);
    expect(resolveLayers(state, PC, 4).config.heartbeat_interval_ms).toBe(5_000);
  });

  it('a delete drops the layer; a later put brings it back; other PCs keys are ignored', () => {
    const { state } = fold([
      put('config', `pcs.${PC}`, 1, { target_version: '1.2.3' }),
      put('config', 'pcs.OTHER', 2, { target_version: '9.9.9' }),
      { bucket: 'config', key: `pcs.${PC}`, revision: 3, operation: 'DEL', value: '' },
    ]);
    expect(resolveLayers(state, PC, 4).config.target_version).toBeNull();
    expect(Object.keys(state.scopes)).toEqual([]);
    const again = fold([put('config', `pcs.${PC}`, 4, { target_version: '2.0.0' })], state);
    expect(resolveLayers(again.state, PC, 4).config.target_version).toBe('2.0.0');
  });

  it('membership is the union of both buckets; unparseable values are skipped with a warning', () => {
    const { state, warnings } = fold([
      put('groups', PC, 1, { groups: ['b', 'a'] }),
      put('groups_derived', PC, 1, { groups: ['c', 'a'] }),
      put('groups_derived', 'OTHER', 2, { groups: ['z'] }),
      put('groups', PC, 2, '{"groups": "oops"'),
    ]);
    expect(resolveLayers(state, PC, 4).groups).toEqual(['a', 'b', 'c']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('agent_groups/PC-unit (revision 2): unparseable group membership skipped');
  });

  it('defaults: logical CPU count, 30 s heartbeat, no target version, 10 m jitter', () => {
    expect(resolveLayers(emptyLayerState(), PC, 6).config).toEqual({
      max_local_concurrent: 6,
      heartbeat_interval_ms: 30_000,
      target_version: null,
      target_version_jitter_ms: 600_000,
    });
  });
});

describe('resource retry schedule (§4)', () => {
  it('1 s doubling to 300 s with ±25 % jitter', () => {
    expect(resourceRetryDelayMs(0, () => 0.5)).toBe(1_000);
    expect(resourceRetryDelayMs(3, () => 0.5)).toBe(8_000);
    expect(resourceRetryDelayMs(12, () => 0.5)).toBe(300_000);
    expect(resourceRetryDelayMs(0, () => 0)).toBe(750);
    expect(resourceRetryDelayMs(0, () => 1)).toBe(1_250);
  });
});

describe('config machine (simulated clock)', () => {
  it('backs off after a failed read, retries after the delay, and retries at once on reconnect', () => {
    const clock = new SimulatedClock();
    let attempts = 0;
    const failing = fromCallback<{ type: string }, WatchKvConfigInput>(({ sendBack }) => {
      attempts += 1;
      sendBack({ type: 'kv.failed', reason: 'stream not found', missing: true });
    });
    const t = createTestServices(PC);
    const machine = effectiveConfigLogic.provide({
      actors: { watchKvConfig: failing },
      delays: { retryDelay: ({ context }) => 1_000 * 2 ** (context.attempt - 1) },
    });
    const actor = createActor(machine, { input: { ...t.services, logicalCpus: logicalCpuCount() }, clock }).start();
    expect(actor.getSnapshot().matches({ running: 'waitingForBroker' })).toBe(true);

    t.broker.connected({} as NatsConnection);
    expect(attempts).toBe(1);
    expect(actor.getSnapshot().matches({ running: 'backoff' })).toBe(true);
    expect(actor.getSnapshot().context.status.nextRetryAt).not.toBeNull();
    clock.increment(999);
    expect(attempts).toBe(1);
    clock.increment(1);
    expect(attempts).toBe(2); // after 1 s
    clock.increment(1_999);
    expect(attempts).toBe(2);
    clock.increment(1);
    expect(attempts).toBe(3); // after 2 s more

    // A reconnect does not wait for the 4 s timer.
    t.broker.disconnected();
    expect(actor.getSnapshot().matches({ running: 'waitingForBroker' })).toBe(true);
    t.broker.connected({} as NatsConnection);
    expect(attempts).toBe(4);
    expect(actor.getSnapshot().context.status.lastError).toBe('stream not found');

    actor.send({ type: 'shutdown' });
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('changes the hubs only once the boot walk is complete (no half-layered config)', () => {
    const clock = new SimulatedClock();
    let send: ((event: { type: string; [key: string]: unknown }) => void) | undefined;
    const manual = fromCallback<{ type: string }, WatchKvConfigInput>(({ sendBack }) => {
      send = sendBack as typeof send;
    });
    const t = createTestServices(PC);
    const seen: Array<string | null> = [];
    t.services.effectiveConfig.watch((c) => seen.push(c.target_version));
    const actor = createActor(effectiveConfigLogic.provide({ actors: { watchKvConfig: manual } }), {
      input: { ...t.services, logicalCpus: logicalCpuCount() },
      clock,
    }).start();
    t.broker.connected({} as NatsConnection);
    send?.({ type: 'kv.entryReceived', entry: put('groups', PC, 1, { groups: ['canary'] }) });
    send?.({ type: 'kv.entryReceived', entry: put('config', 'groups.canary', 2, { target_version: '9.0.0-rc1' }) });
    send?.({ type: 'kv.entryReceived', entry: put('config', `pcs.${PC}`, 3, { target_version: '1.0.0' }) });
    expect(seen).toEqual([null]); // nothing published mid-walk
    send?.({ type: 'kv.synced' });
    expect(seen).toEqual([null, '1.0.0']);
    send?.({ type: 'kv.entryReceived', entry: put('config', `pcs.${PC}`, 4, { target_version: '1.1.0' }) });
    expect(seen).toEqual([null, '1.0.0', '1.1.0']); // live: at once
    actor.send({ type: 'shutdown' });
  });

  it('publishes the hubs once synced and stays healthy', () => {
    const clock = new SimulatedClock();
    const fake = fromCallback<{ type: string }, WatchKvConfigInput>(({ sendBack }) => {
      sendBack({ type: 'kv.entryReceived', entry: put('config', 'global', 1, { heartbeat_interval: '1s' }) });
      sendBack({ type: 'kv.entryReceived', entry: put('groups', PC, 1, { groups: ['x'] }) });
      sendBack({ type: 'kv.synced' });
    });
    const t = createTestServices(PC);
    const actor = createActor(effectiveConfigLogic.provide({ actors: { watchKvConfig: fake } }), {
      input: { ...t.services, logicalCpus: logicalCpuCount() },
      clock,
    }).start();
    t.broker.connected({} as NatsConnection);
    expect(actor.getSnapshot().hasTag('healthy')).toBe(true);
    expect(t.services.effectiveConfig.current().heartbeat_interval_ms).toBe(1_000);
    expect(t.services.groups.current()).toEqual(['x']);
    actor.send({ type: 'shutdown' });
  });

  it('configSync: says why the KV is not read yet, turns true after the walk (hubs first), and stays true across a restart', () => {
    const clock = new SimulatedClock();
    let send: ((event: { type: string; [key: string]: unknown }) => void) | undefined;
    const manual = fromCallback<{ type: string }, WatchKvConfigInput>(({ sendBack }) => {
      send = sendBack as typeof send;
    });
    const t = createTestServices(PC);
    const order: string[] = [];
    t.services.effectiveConfig.watch((c) => order.push(`config ${c.heartbeat_interval_ms}`));
    t.services.configSync.watch((s) => order.push(`sync ${s.synced} ${s.lastError}`));
    const machine = effectiveConfigLogic.provide({ actors: { watchKvConfig: manual }, delays: { retryDelay: 1_000 } });
    const input = { ...t.services, logicalCpus: logicalCpuCount() };
    const actor = createActor(machine, { input, clock }).start();
    t.broker.connected({} as NatsConnection);
    send?.({ type: 'kv.failed', reason: 'stream not found', missing: true });
    expect(t.services.configSync.current()).toEqual({ synced: false, lastError: 'KV buckets missing: stream not found' });
    clock.increment(1_000); // retry
    send?.({ type: 'kv.entryReceived', entry: put('config', 'global', 1, { heartbeat_interval: '1s' }) });
    expect(t.services.configSync.current().synced).toBe(false); // mid-walk: not yet
    send?.({ type: 'kv.synced' });
    expect(t.services.configSync.current()).toEqual({ synced: true, lastError: null });
    // A sibling told "synced" already has the resolved config.
    expect(order).toEqual([
      'config 30000',
      'sync false null',
      'sync false KV buckets missing: stream not found',
      'config 1000',
      'sync true null',
    ]);
    // A later failure (broker trouble after the sync) does not take it back.
    send?.({ type: 'kv.failed', reason: 'watch ended', missing: false });
    expect(t.services.configSync.current()).toEqual({ synced: true, lastError: null });
    actor.send({ type: 'shutdown' });

    // The supervisor restarts a crashed config child with the same hubs: still synced before its own walk.
    const again = createActor(machine, { input, clock }).start();
    expect(again.getSnapshot().context.status.synced).toBe(false);
    expect(t.services.configSync.current().synced).toBe(true);
    again.send({ type: 'shutdown' });
  });
});
