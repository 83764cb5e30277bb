/**
 * Runs every inventory part; a part that throws is reported by name and the others still complete.
 *
 * @example
 * const report = await collectInventory(createCollector(), 'PC001', ['hw', 'sw', 'net']);
 * report.failures; // [{ part: 'sw', error: 'dpkg-query failed: …' }]
 */
import os from 'node:os';
import { decode, describeDecodeError, formatRfc3339, hwInventory, type HwInventory } from '../../contract/index.js';
import { createPosixCollector } from './posix-collector.js';
import { createWindowsCollector } from './windows-collector.js';
import type { InventoryCollector, InventoryPart, NetAdapter, SoftwareList } from './types.js';

/** Everything one run collected. */
export interface InventoryReport {
  readonly collected_at: string;
  readonly hw?: HwInventory;
  readonly sw?: SoftwareList;
  readonly net?: readonly NetAdapter[];
  readonly failures: ReadonlyArray<{ readonly part: InventoryPart; readonly error: string }>;
  /** Wall time of the whole run, milliseconds. */
  readonly durationMs: number;
}

/** The collector for this OS: PowerShell on Windows, systeminformation elsewhere. */
export function createCollector(platform: NodeJS.Platform = os.platform()): InventoryCollector {
  return platform === 'win32' ? createWindowsCollector() : createPosixCollector();
}

/** Collects `parts` (hw first: it is what gets published); failures are data, never thrown. */
export async function collectInventory(
  collector: InventoryCollector,
  pcId: string,
  parts: readonly InventoryPart[],
): Promise<InventoryReport> {
  const started = Date.now();
  const collectedAt = formatRfc3339(started);
  const failures: Array<{ part: InventoryPart; error: string }> = [];
  const attempt = async <T>(part: InventoryPart, run: () => Promise<T>): Promise<T | undefined> => {
    if (!parts.includes(part)) return undefined;
    try {
      return await run();
    } catch (err) {
      failures.push({ part, error: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  };
  // The backend rejects an HwInventory outside §5.5 (cores/RAM > 0, non-empty hostname and os_name):
  // such a collection is a failed hw part, reported by field, never published.
  const hw = await attempt('hw', async () => {
    const checked = decode(hwInventory, { pc_id: pcId, collected_at: collectedAt, ...(await collector.collectHw()) });
    if (!checked.ok) throw new Error(`collected hw does not satisfy the contract: ${describeDecodeError(checked.error)}`);
    return checked.value;
  });
  const sw = await attempt('sw', () => collector.collectSw());
  const net = await attempt('net', () => collector.collectNet());
  return {
    collected_at: collectedAt,
    ...(hw && { hw }),
    ...(sw && { sw }),
    ...(net && { net }),
    failures,
    durationMs: Date.now() - started,
  };
}
