/**
 * The `config` child against a real broker (contract §5.6): layering defaults → global → groups
 * alphabetically → pcs.<pc_id>, live changes, deletes, bad values, membership from both group
 * buckets, and waiting for buckets the backend has not created yet (§4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { startBroker, type Broker } from '../harness/broker.js';
import { startNatsServer } from '../../devtools/dev-broker/nats-server.js';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import { connect } from '@nats-io/transport-node';
import { effectiveConfigLogic } from '../../supervisor/children.js';
import { logicalCpuCount } from '../../actors/kv-config/host-cpu.js';
import { createTestServices, pollUntil } from './test-services.js';

const PC = 'PC-cfg-01';
const WAIT_MS = 5_000;

describe('config child (real broker)', () => {
  let broker: Broker;
  let nc: NatsConnection;
  let config: KV;
  let groups: KV;
  let derived: KV;

  beforeAll(async () => {
    broker = await startBroker();
    nc = await broker.connect();
    config = await broker.kvm.open('agent_config');
    groups = await broker.kvm.open('agent_groups');
    derived = await broker.kvm.open('agent_groups_derived');
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('layers global, two groups and the pc, follows changes live, and resolves group conflicts alphabetically', async () => {
    await config.put('global', JSON.stringify({ heartbeat_interval: '10s', max_local_concurrent: 3 }));
    await config.put('groups.alpha', JSON.stringify({ max_local_concurrent: 5, target_version: '1.0.0' }));
    await config.put('groups.beta', JSON.stringify({ max_local_concurrent: 7 }));
    await config.put('groups.gamma', JSON.stringify({ heartbeat_interval: '1m' }));
    await config.put(`pcs.${PC}`, JSON.stringify({ target_version: '2.0.0' }));
    await config.put('pcs.SOMEONE-ELSE', JSON.stringify({ heartbeat_interval: '5s' }));
    await groups.put(PC, JSON.stringify({ groups: ['beta'] }));
    await derived.put(PC, JSON.stringify({ groups: ['alpha', 'beta'] }));

    const t = createTestServices(PC);
    const actor = createActor(effectiveConfigLogic, { input: { ...t.services, logicalCpus: logicalCpuCount() } }).start();
    t.broker.connected(nc);
    try {
      await pollUntil('live', WAIT_MS, () => actor.getSnapshot().hasTag('healthy'));
      expect(t.services.groups.current()).toEqual(['alpha', 'beta']);
      expect(t.services.effectiveConfig.current()).toMatchObject({
        heartbeat_interval_ms: 10_000,
        max_local_concurrent: 7, // beta after alpha
        target_version: '2.0.0', // the pc layer wins over alpha's 1.0.0
      });
      const conflict = t.logs.filter((l) => String(l.msg).includes('config conflict on max_local_concurrent'));
      expect(conflict).toHaveLength(1);
      expect(conflict[0]?.msg).toContain('beta wins');

      // A live change applies; a delete drops the layer.
      await config.put('global', JSON.stringify({ heartbeat_interval: '1s', max_local_concurrent: 3 }));
      await pollUntil('1s interval', WAIT_MS, () => t.services.effectiveConfig.current().heartbeat_interval_ms === 1_000);
      await config.delete(`pcs.${PC}`);
      await pollUntil('pc layer dropped', WAIT_MS, () => t.services.effectiveConfig.current().target_version === '1.0.0');

      // Membership follows both buckets live: beta leaves the union only when both drop it.
      await groups.put(PC, JSON.stringify({ groups: [] }));
      await derived.put(PC, JSON.stringify({ groups: ['alpha'] }));
      await pollUntil('beta left', WAIT_MS, () => t.services.groups.current().join() === 'alpha');
      expect(t.services.effectiveConfig.current().max_local_concurrent).toBe(5);

      // Joining gamma brings its layer in.
      await groups.put(PC, JSON.stringify({ groups: ['gamma'] }));
      await pollUntil('gamma joined', WAIT_MS, () => t.services.effectiveConfig.current().heartbeat_interval_ms === 60_000);
      expect(actor.getSnapshot().context.status).toMatchObject({ synced: true, groups: ['alpha', 'gamma'] });
    } finally {
      actor.send({ type: 'shutdown' });
      expect(actor.getSnapshot().status).toBe('done');
      for (const key of ['global', 'groups.alpha', 'groups.beta', 'groups.gamma', 'pcs.SOMEONE-ELSE']) await config.delete(key);
      await groups.delete(PC);
      await derived.delete(PC);
    }
  });

  it('bad values fall back to defaults with one warning each; an unparseable entry is skipped with a warning', async () => {
    const pc = 'PC-cfg-02';
    await config.put(`pcs.${pc}`, JSON.stringify({ heartbeat_interval: 'soon', max_local_concurrent: 0, target_version: '3.1.4' }));
    const t = createTestServices(pc);
    const actor = createActor(effectiveConfigLogic, { input: { ...t.services, logicalCpus: logicalCpuCount() } }).start();
    t.broker.connected(nc);
    try {
      await pollUntil('target_version applied', WAIT_MS, () => t.services.effectiveConfig.current().target_version === '3.1.4');
      expect(t.services.effectiveConfig.current().heartbeat_interval_ms).toBe(30_000);
      expect(t.services.effectiveConfig.current().max_local_concurrent).toBeGreaterThanOrEqual(1);
      expect(t.logs.filter((l) => String(l.msg).includes('heartbeat_interval: expected'))).toHaveLength(1);
      expect(t.logs.filter((l) => String(l.msg).includes('max_local_concurrent: expected'))).toHaveLength(1);

      await config.put(`pcs.${pc}`, 'not json');
      await pollUntil('unparseable warning', WAIT_MS, () => t.logs.some((l) => String(l.msg).includes('unparseable ConfigScope skipped')));
      expect(actor.getSnapshot().status).toBe('active');
      expect(t.services.effectiveConfig.current().target_version).toBe('3.1.4'); // skipped: the layer keeps what it had
    } finally {
      actor.send({ type: 'shutdown' });
      await config.delete(`pcs.${pc}`);
    }
  });
});

describe('config child before the backend created the buckets', () => {
  it('waits and retries while agent_config is missing, then goes live once it exists', async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const pc = 'PC-cfg-03';
    const t = createTestServices(pc);
    // Shorter retry delay: the §4 schedule itself is covered by the SimulatedClock unit test.
    const actor = createActor(effectiveConfigLogic.provide({ delays: { retryDelay: 200 } }), {
      input: { ...t.services, logicalCpus: logicalCpuCount() },
    }).start();
    try {
      t.broker.connected(nc);
      await pollUntil('backoff', WAIT_MS, () => actor.getSnapshot().matches({ running: 'backoff' }));
      expect(actor.getSnapshot().hasTag('degraded')).toBe(true);
      expect(t.logs.some((l) => String(l.msg).includes('KV buckets not there yet'))).toBe(true);

      await bootstrapBackendResources(nc);
      const kv = await new Kvm(nc).open('agent_config');
      await kv.put('global', JSON.stringify({ heartbeat_interval: '2s' }));
      await pollUntil('live', 10_000, () => actor.getSnapshot().hasTag('healthy'));
      expect(t.services.effectiveConfig.current().heartbeat_interval_ms).toBe(2_000);
      expect(actor.getSnapshot().context.status.attempt).toBe(0);
    } finally {
      actor.send({ type: 'shutdown' });
      await nc.close();
      await server.cleanup();
    }
  });
});

describe('config child on buckets without Direct Get', () => {
  it('still resolves the layers: the watch delivers what the boot walk could not get', async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const pc = 'PC-cfg-04';
    try {
      const kvm = new Kvm(nc);
      const config = await kvm.create('agent_config', { history: 1, allow_direct: false });
      await kvm.create('agent_groups', { history: 1, allow_direct: false });
      const derived = await kvm.create('agent_groups_derived', { history: 1, allow_direct: false });
      await config.put('groups.ops', JSON.stringify({ heartbeat_interval: '7s' }));
      await derived.put(pc, JSON.stringify({ groups: ['ops'] }));
      const t = createTestServices(pc);
      const actor = createActor(effectiveConfigLogic, { input: { ...t.services, logicalCpus: logicalCpuCount() } }).start();
      t.broker.connected(nc);
      try {
        await pollUntil('ops layer applied', 15_000, () => t.services.effectiveConfig.current().heartbeat_interval_ms === 7_000);
        expect(t.services.groups.current()).toEqual(['ops']);
        expect(t.logs.some((l) => String(l.msg).includes('KV get failed during the boot walk'))).toBe(true);
        expect(actor.getSnapshot().hasTag('healthy')).toBe(true);
      } finally {
        actor.send({ type: 'shutdown' });
      }
    } finally {
      await nc.close();
      await server.cleanup();
    }
  });
});
