/**
 * Issue #16 item 4: every child but `config` gets read-only views of the effectiveConfig, groups
 * (and configSync) hubs; only the `config` child's input carries their write side (its child spec asks for
 * it with `configServices`), so "one writer" holds by type and at run time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configServices, type InventoryServices } from '../../actors/ports.js';
import { CHILDREN } from '../../supervisor/children.js';
import { createAgentServices } from '../../supervisor/services.js';
import { testAgentConfig } from '../config-kv/test-services.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-services-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the config hubs', () => {
  it('are read-only views for the children and writable only through the config child input', () => {
    const services = createAgentServices({
      config: testAgentConfig('pc-ports', { dataDir: dir }),
      log: pino({ level: 'silent' }),
      agentVersion: '0.0.0-test',
      env: {},
    });
    expect('set' in services.effectiveConfig).toBe(false);
    expect('set' in services.groups).toBe(false);
    // @ts-expect-error a non-writer's view has no `set`
    expect(() => services.effectiveConfig.set(services.effectiveConfig.current())).toThrow(TypeError);

    const seen: Array<readonly string[]> = [];
    services.groups.watch((groups) => seen.push(groups));
    const writer = configServices(services);
    writer.groups.set(['lab']);
    writer.effectiveConfig.set({ ...writer.effectiveConfig.current(), heartbeat_interval_ms: 12_345 });
    expect(services.groups.current()).toEqual(['lab']);
    expect(services.effectiveConfig.current().heartbeat_interval_ms).toBe(12_345);
    expect(seen).toEqual([[], ['lab']]);
  });

  it('have their write side handed to the config child only', () => {
    const services = createAgentServices({
      config: testAgentConfig('pc-ports', { dataDir: dir }),
      log: pino({ level: 'silent' }),
      agentVersion: '0.0.0-test',
      env: {},
    });
    const writers = CHILDREN.filter((spec) => {
      const input = (spec.input === undefined ? services : spec.input(services, { now: 0, random: 0 })) as {
        effectiveConfig?: object;
        groups?: object;
        configSync?: object;
      };
      return [input.effectiveConfig, input.groups, input.configSync].some((hub) => hub !== undefined && 'set' in hub);
    });
    expect(writers.map((spec) => spec.id)).toEqual(['config']);
  });

  it('configSync: not synced at start; the inventory child reads it, the config child writes it', () => {
    const services = createAgentServices({
      config: testAgentConfig('pc-ports', { dataDir: dir }),
      log: pino({ level: 'silent' }),
      agentVersion: '0.0.0-test',
      env: {},
    });
    const inventory = CHILDREN.find((spec) => spec.id === 'inventory')!;
    const view = inventory.input!(services, { now: 0, random: 0 }) as InventoryServices;
    expect(view.configSync.current()).toEqual({ synced: false, lastError: null });
    expect('set' in view.configSync).toBe(false);
    configServices(services).configSync.set({ synced: true, lastError: null });
    expect(view.configSync.current().synced).toBe(true);
  });
});
