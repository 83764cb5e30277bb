/**
 * Publishes `HwInventory` on `inventory.<pc_id>.hw` (contract §3, §5.5): a core publish captured by
 * stream INVENTORY, then a flush so a dead connection shows up as a failure to retry. A permission
 * refusal arrives later on the connection's status stream and is only logged there (§3).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { fromPromise } from 'xstate';
import { encodeHwInventory, subjects, type HwInventory } from '../../contract/index.js';

/** Longest wait for the server's answer to the flush. */
export const INVENTORY_FLUSH_TIMEOUT_MS = 10_000;

/** Input of {@link publishHw}. */
export interface PublishHwInput {
  readonly nc: NatsConnection;
  readonly hw: HwInventory;
}

/** Publishes and flushes; rejects when the connection cannot confirm (the machine retries). */
export const publishHw = fromPromise<{ bytes: number }, PublishHwInput>(async ({ input }) => {
  const body = encodeHwInventory(input.hw);
  input.nc.publish(subjects.inventoryHw(input.hw.pc_id), body);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      input.nc.flush(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`flush not confirmed within ${INVENTORY_FLUSH_TIMEOUT_MS} ms`)), INVENTORY_FLUSH_TIMEOUT_MS); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return { bytes: Buffer.byteLength(body) };
});
