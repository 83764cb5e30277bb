/**
 * The updater's rules as small pure functions (table-tested in spec/updater/updater-rules.spec.ts):
 * what to do with a target (§10 step 1), the jitter (§10 step 2), the waits (§4 schedule), and a
 * seeded random sequence so the machine stays pure while the root injects the randomness.
 *
 * @example
 * const { value, seed } = nextRandom(input.seed);
 * jitterDelayMs(600_000, value); // 0..600000 inclusive
 */
import {
  RESOURCE_RETRY_BASE_MS,
  RESOURCE_RETRY_CAP_MS,
  RESOURCE_RETRY_JITTER,
  isReleaseVersion,
  timerDelayMs,
  type LastSwap,
} from '../contract/index.js';

/** A boot is confirmed healthy after this long with the tree up (§10 step 6; a broker outage does not count). */
export const BOOT_CONFIRM_MS = 30_000;
/** Longest wait for running commands to finish before swapping anyway. */
export const IDLE_WAIT_CAP_MS = 10 * 60_000;
/** Verification failures of one target that park the updater until the target changes. */
export const MAX_VERIFY_FAILURES = 3;

/**
 * mulberry32: the next value in [0, 1) and the next seed. Pure, so context keeps a number, not a
 * function, and tests choose the values by choosing the seed.
 */
export function nextRandom(seed: number): { value: number; seed: number } {
  const next = (seed + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296, seed: next };
}

/** §10 step 2: a uniform wait in `0..=jitterMs` (whole ms) from `random01` ∈ [0, 1). */
export function jitterDelayMs(jitterMs: number, random01: number): number {
  const max = Math.max(0, Math.floor(jitterMs));
  return timerDelayMs(Math.min(max, Math.floor(Math.min(Math.max(random01, 0), 1) * (max + 1))));
}

/** §4 schedule for retries (store absent, failures): 1 s doubling to 300 s, ±25 % jitter. */
export function retryDelayMs(attempt: number, random01: number): number {
  const base = Math.min(RESOURCE_RETRY_CAP_MS, RESOURCE_RETRY_BASE_MS * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(base * (1 + RESOURCE_RETRY_JITTER * (2 * Math.min(Math.max(random01, 0), 1) - 1)));
}

/** What §10 step 1 says about a target. */
export type TargetDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'current' }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'quarantined' }
  | { readonly kind: 'loop' }
  | { readonly kind: 'update' };

/**
 * Evaluates a target: null → none; equal to the running version → current; not a safe version
 * label → invalid; quarantined → quarantined; `last_swap.json` shows the same target swapped in
 * from this very version (the swap did not change the version: a mislabelled release) → loop;
 * else update.
 */
export function evaluateTarget(
  target: string | null,
  running: string,
  quarantined: readonly string[],
  lastSwap: LastSwap | null,
): TargetDecision {
  if (target === null) return { kind: 'none' };
  if (target === running) return { kind: 'current' };
  if (!isReleaseVersion(target)) return { kind: 'invalid' };
  if (quarantined.includes(target)) return { kind: 'quarantined' };
  if (lastSwap !== null && lastSwap.target === target && lastSwap.running_before === running) return { kind: 'loop' };
  return { kind: 'update' };
}
