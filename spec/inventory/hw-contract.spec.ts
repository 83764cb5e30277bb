/** An HwInventory outside §5.5 is a failed hw part, named by field, and never reaches the publisher. */
import { describe, expect, it } from 'vitest';
import { collectInventory } from '../../actors/inventory/collect-inventory.js';
import type { InventoryCollector } from '../../actors/inventory/types.js';

const facts = {
  hostname: 'PC',
  os_name: 'Microsoft Windows 11 Pro',
  os_version: '10.0.22631',
  os_build: '22631',
  cpu_model: 'x',
  cpu_cores: 4,
  ram_bytes: 8_589_934_592,
  disks: [],
};

function collector(hw: typeof facts): InventoryCollector {
  return {
    kind: 'windows',
    collectHw: async () => hw,
    collectSw: async () => ({ items: [], notes: [] }),
    collectNet: async () => [],
    dispose: async () => undefined,
  } as unknown as InventoryCollector;
}

describe('hw against the contract', () => {
  it('passes a valid collection through', async () => {
    const report = await collectInventory(collector(facts), 'PC', ['hw']);
    expect(report.failures).toEqual([]);
    expect(report.hw).toMatchObject({ pc_id: 'PC', cpu_cores: 4 });
  });

  it.each([
    [{ cpu_cores: 0 }, 'cpu_cores'],
    [{ ram_bytes: 0 }, 'ram_bytes'],
    [{ os_name: '' }, 'os_name'],
    [{ hostname: '' }, 'hostname'],
  ])('fails hw for %j, naming %s', async (patch, field) => {
    const report = await collectInventory(collector({ ...facts, ...patch }), 'PC', ['hw', 'sw']);
    expect(report.hw).toBeUndefined();
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]?.part).toBe('hw');
    expect(report.failures[0]?.error).toContain(field);
    expect(report.sw).toBeDefined();
  });
});
