/**
 * What an inventory collector produces (contract §5.5 for `hw`; `sw` and `net` are our shapes, the
 * contract reserves their subjects without a shape, so they are collected for
 * `kanade-agent inventory` but not published).
 */
import type { HwInventory } from '../../contract/index.js';

/** The three inventory parts. */
export const INVENTORY_PARTS = ['hw', 'sw', 'net'] as const;
/** One of {@link INVENTORY_PARTS}. */
export type InventoryPart = (typeof INVENTORY_PARTS)[number];

/** `hw` without the fields the agent adds (`pc_id`, `collected_at`). */
export type HwFacts = Omit<HwInventory, 'pc_id' | 'collected_at'>;

/** One installed program. `install_date` is `YYYY-MM-DD` when the source says, else null. */
export interface SoftwareItem {
  readonly name: string;
  readonly version: string;
  readonly publisher: string | null;
  readonly install_date: string | null;
}

/** The software list plus a note when a source was missing (e.g. no package manager found). */
export interface SoftwareList {
  readonly items: readonly SoftwareItem[];
  readonly notes: readonly string[];
}

/** One network adapter with its addresses. `gateway` is the default gateway when it is on this adapter. */
export interface NetAdapter {
  readonly name: string;
  readonly mac: string;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly gateway: string | null;
  readonly dhcp: boolean | null;
}

/** A per-OS source of inventory; each part may fail on its own. */
export interface InventoryCollector {
  /** Short name for logs and `status` (`posix`, `windows`). */
  readonly kind: string;
  collectHw(): Promise<HwFacts>;
  collectSw(): Promise<SoftwareList>;
  collectNet(): Promise<NetAdapter[]>;
  /** Releases long-lived resources (the PowerShell session). Never rejects. */
  dispose(): Promise<void>;
}
