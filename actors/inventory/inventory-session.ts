/**
 * The inventory child's collector, owned for the child's lifetime: created on start, asked to
 * collect by `collect` events, disposed when the child stops (for Windows this ends the PowerShell
 * session). Answers with `inventory.collected` carrying the report; collector errors are in the
 * report, never thrown.
 */
import { fromCallback } from 'xstate';
import type { AgentServices } from '../ports.js';
import { collectInventory, createCollector, type InventoryReport } from './collect-inventory.js';
import type { InventoryCollector, InventoryPart } from './types.js';

/** The parts the resident agent collects: only `hw` is published (contract §3), so only `hw` is collected. */
export const PUBLISHED_PARTS: readonly InventoryPart[] = ['hw'];

/** Events the session accepts and sends. */
export type InventorySessionEvent =
  { readonly type: 'collect' } | { readonly type: 'inventory.collected'; readonly report: InventoryReport };

/** Session logic over a collector factory (tests inject a throwing or fake collector). */
export function createInventorySession(
  makeCollector: () => InventoryCollector = () => createCollector(),
  parts: readonly InventoryPart[] = PUBLISHED_PARTS,
) {
  return fromCallback<{ type: string }, AgentServices>(({ input, sendBack, receive }) => {
    let collector: InventoryCollector | undefined;
    let stopped = false;
    receive((event) => {
      if (event.type !== 'collect') return;
      void (async () => {
        let report: InventoryReport;
        try {
          collector ??= makeCollector();
          report = await collectInventory(collector, input.config.pcId, parts);
        } catch (err) {
          // Only the factory can get here (collectInventory never throws): report every part failed.
          const error = err instanceof Error ? err.message : String(err);
          report = { collected_at: new Date().toISOString(), failures: parts.map((part) => ({ part, error })), durationMs: 0 };
        }
        if (!stopped) sendBack({ type: 'inventory.collected', report } satisfies InventorySessionEvent);
      })();
    });
    return () => {
      stopped = true;
      void collector?.dispose();
    };
  });
}

/** The default session (this OS's collector). */
export const inventorySession = createInventorySession();
