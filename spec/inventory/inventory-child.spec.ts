/**
 * The `inventory` child against a real broker: the hardware inventory of this Linux machine lands
 * in stream INVENTORY on `inventory.<pc_id>.hw` with the contract's fields and sane values; `sw` and
 * `net` are never published (contract §3); a collector that throws does not crash the child.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import os from 'node:os';
import { createActor } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { startBroker, type Broker } from '../harness/broker.js';
import { decodeHwInventory, STREAM_INVENTORY, subjects, type HwInventory } from '../../contract/index.js';
import { inventoryLogic } from '../../supervisor/children.js';
import { createInventorySession } from '../../actors/inventory/inventory-session.js';
import { createCollector } from '../../actors/inventory/collect-inventory.js';
import type { InventoryCollector } from '../../actors/inventory/types.js';
import { createTestServices, pollUntil } from '../config-kv/test-services.js';

/** The `config` child's boot walk is done (these tests play it; the wait for it is unit-tested). */
const SYNCED = { synced: true, lastError: null } as const;

/** First run after 20 ms instead of up to 30 s; later runs keep the real 24 h schedule. */
const FAST = {
  delays: {
    nextRun: ({ context }: { context: { ranOnce: boolean; nextDelayMs: number } }) => (context.ranOnce ? context.nextDelayMs : 20),
  },
};

describe('inventory child (real broker)', () => {
  let broker: Broker;
  let nc: NatsConnection;

  beforeAll(async () => {
    broker = await startBroker();
    nc = await broker.connect();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  const lastHw = async (pc: string): Promise<HwInventory | undefined> => {
    const msg = await broker.jsm.streams.getMessage(STREAM_INVENTORY, { last_by_subj: subjects.inventoryHw(pc) });
    if (msg === null) return undefined;
    const decoded = decodeHwInventory(msg.data);
    if (!decoded.ok) throw new Error(`bad HwInventory in the stream: ${JSON.stringify(decoded.error)}`);
    return decoded.value;
  };
  const subjectsOf = async (pc: string): Promise<string[]> => {
    const info = await broker.jsm.streams.info(STREAM_INVENTORY, { subjects_filter: `inventory.${pc}.>` });
    return Object.keys(info.state.subjects ?? {}).sort();
  };

  it("publishes this machine's hw inventory to INVENTORY soon after connect, and only hw", async () => {
    const pc = 'PC-inv-01';
    const t = createTestServices(pc, { configSync: SYNCED });
    const actor = createActor(inventoryLogic.provide(FAST), { input: t.services }).start();
    try {
      expect(actor.getSnapshot().matches({ running: 'awaitingFirstConnect' })).toBe(true);
      t.broker.connected(nc);
      const hw = await pollUntil('hw in INVENTORY', 30_000, () => lastHw(pc));
      expect(hw.pc_id).toBe(pc);
      expect(hw.hostname).toBe(os.hostname());
      expect(hw.os_name.length).toBeGreaterThan(0);
      expect(hw.os_build).toBe(os.release()); // Linux: the kernel release
      expect(hw.cpu_cores).toBeGreaterThanOrEqual(1);
      expect(hw.cpu_cores).toBeLessThanOrEqual(os.cpus().length);
      expect(hw.ram_bytes).toBe(os.totalmem());
      expect(hw.disks.length).toBeGreaterThanOrEqual(1);
      for (const disk of hw.disks) {
        expect(disk.size_bytes).toBeGreaterThan(0);
        expect(disk.free_bytes).toBeLessThanOrEqual(disk.size_bytes);
        expect(disk.device_id.startsWith('/')).toBe(true);
      }
      expect(Math.abs(Date.parse(hw.collected_at) - Date.now())).toBeLessThan(60_000);
      await pollUntil('status updated', 2_000, () => actor.getSnapshot().context.status.lastPublishedAt !== null);
      expect(actor.getSnapshot().context.status).toMatchObject({ runs: 1, lastError: null, enabled: true });
      expect(actor.getSnapshot().matches({ running: 'scheduled' })).toBe(true);
      expect(await subjectsOf(pc)).toEqual([subjects.inventoryHw(pc)]);
    } finally {
      actor.send({ type: 'shutdown' });
    }
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a collector part that throws is logged by name; hw is still published; the child keeps running', async () => {
    const pc = 'PC-inv-02';
    const real = createCollector();
    let disposed = false;
    const flaky: InventoryCollector = {
      kind: 'flaky',
      collectHw: () => real.collectHw(),
      collectSw: async () => {
        throw new Error('dpkg exploded');
      },
      collectNet: async () => {
        throw new Error('no interfaces');
      },
      dispose: async () => {
        disposed = true;
      },
    };
    const t = createTestServices(pc, { configSync: SYNCED });
    const machine = inventoryLogic.provide({
      ...FAST,
      actors: { inventorySession: createInventorySession(() => flaky, ['hw', 'sw', 'net']) },
    });
    const actor = createActor(machine, { input: t.services }).start();
    try {
      t.broker.connected(nc);
      await pollUntil('hw in INVENTORY', 30_000, () => lastHw(pc));
      await pollUntil('run recorded', 2_000, () => actor.getSnapshot().context.status.runs === 1);
      expect(actor.getSnapshot().status).toBe('active');
      expect(actor.getSnapshot().context.status.lastError).toContain('sw: dpkg exploded');
      const failed = t.logs.filter((l) => l.msg.startsWith('inventory part')).map((l) => l.part);
      expect(failed).toEqual(['sw', 'net']);
      expect(await subjectsOf(pc)).toEqual([subjects.inventoryHw(pc)]);
    } finally {
      actor.send({ type: 'shutdown' });
    }
    expect(disposed).toBe(true);
  });

  it('when hw itself throws, nothing is published, the failure is in status, and the child keeps running', async () => {
    const pc = 'PC-inv-03';
    const broken: InventoryCollector = {
      kind: 'broken',
      collectHw: async () => {
        throw new Error('osInfo failed');
      },
      collectSw: async () => ({ items: [], notes: [] }),
      collectNet: async () => [],
      dispose: async () => undefined,
    };
    const t = createTestServices(pc, { configSync: SYNCED });
    const actor = createActor(inventoryLogic.provide({ ...FAST, actors: { inventorySession: createInventorySession(() => broken) } }), {
      input: t.services,
    }).start();
    try {
      t.broker.connected(nc);
      await pollUntil('run recorded', 5_000, () => actor.getSnapshot().context.status.runs >= 1);
      expect(actor.getSnapshot().status).toBe('active');
      expect(actor.getSnapshot().context.status.lastError).toBe('hw: osInfo failed');
      expect(await lastHw(pc)).toBeUndefined();
    } finally {
      actor.send({ type: 'shutdown' });
    }
  });
});
