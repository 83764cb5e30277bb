/**
 * The inventory schedule settings: agent.toml `[inventory] enabled/interval/jitter`, overridden by
 * the effective config's `inventory_enabled/interval/jitter` when KV sets them. Sends
 * `config.inventoryChanged` at once and on every change.
 */
import { fromCallback } from 'xstate';
import type { EffectiveConfig } from '../../contract/index.js';
import type { AgentConfig } from '../config/load-config.js';
import type { AgentServices } from '../ports.js';

/** The settings the inventory child runs with. */
export interface InventorySettings {
  readonly enabled: boolean;
  readonly intervalMs: number;
  readonly jitterMs: number;
}

/** Resolves the settings from the local config and the effective (KV) config. */
export function inventorySettings(local: AgentConfig['inventory'], effective: EffectiveConfig): InventorySettings {
  return {
    enabled: effective.inventory_enabled ?? local.enabled,
    intervalMs: effective.inventory_interval_ms ?? local.intervalMs,
    jitterMs: effective.inventory_jitter_ms ?? local.jitterMs,
  };
}

/** Watches the effectiveConfig hub for changes to the inventory settings. */
export const watchInventorySettings = fromCallback<{ type: string }, AgentServices>(({ input, sendBack }) => {
  let last = '';
  return input.effectiveConfig.watch((effective) => {
    const settings = inventorySettings(input.config.inventory, effective);
    const key = JSON.stringify(settings);
    if (key === last) return;
    last = key;
    sendBack({ type: 'config.inventoryChanged', settings });
  });
});
