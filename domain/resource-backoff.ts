/**
 * The wait between attempts to reach a backend-owned resource (contract §4): 1 s doubling to
 * 300 s, ±25 % jitter. Pure; `random` is injectable so tests can pin the jitter.
 *
 * @example
 * resourceRetryDelayMs(0); // 750..1250
 * resourceRetryDelayMs(20); // 225000..375000 (capped at 300 s before jitter)
 */
import { RESOURCE_RETRY_BASE_MS, RESOURCE_RETRY_CAP_MS, RESOURCE_RETRY_JITTER } from '../contract/index.js';

/** Delay before attempt `attempt + 1` (attempt 0 = the first retry). */
export function resourceRetryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(RESOURCE_RETRY_CAP_MS, RESOURCE_RETRY_BASE_MS * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(base * (1 + RESOURCE_RETRY_JITTER * (2 * random() - 1)));
}
