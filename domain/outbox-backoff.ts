/**
 * The wait before the next attempt of an outbox file (contract §9): 1, 2, 4 … s after each
 * consecutive failure, capped at 300 s. Pure.
 *
 * @example
 * outboxBackoffMs(1); // 1_000
 * outboxBackoffMs(20); // 300_000
 */
import { OUTBOX_BACKOFF_BASE_MS, OUTBOX_BACKOFF_CAP_MS } from '../contract/index.js';

/** Backoff before attempt n+1 after `failures` consecutive failures (§9: 1, 2, 4 … s, cap 300 s). */
export function outboxBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(OUTBOX_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30), OUTBOX_BACKOFF_CAP_MS);
}
