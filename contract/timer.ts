/** Timer delays as Node can honour them: setTimeout treats anything above 2³¹−1 ms as 1 ms. */

/** setTimeout's ceiling: 2³¹−1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A delay for xstate's `after`: never negative, never past {@link MAX_TIMER_MS}. Without the clamp
 * a `"30d"` heartbeat interval from KV would fire every millisecond.
 */
export function timerDelayMs(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}
