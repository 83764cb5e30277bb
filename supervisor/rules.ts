/**
 * The supervisor's rules as small pure functions, each mirroring one OTP supervisor behaviour
 * (plus the Akka-style backoff OTP lacks). The root machine only calls these; tests table them.
 */
import type { RestartType } from './child-spec.js';

/**
 * Why a child ended: `normal` (reached its final state unasked), `error` (threw: a crash),
 * `shutdown` (it was asked to stop), `escalate` (it says restarting cannot help, e.g. credentials
 * refused for 30 s: the whole process must exit so the service manager takes over).
 */
export type ExitReason = 'normal' | 'error' | 'shutdown' | 'escalate';

/** OTP strategies: restart the failed child only, it and the children started after it, or all. */
export type Strategy = 'one_for_one' | 'rest_for_one' | 'one_for_all';

/** OTP supervisor flags plus the backoff between restarts. */
export interface SupervisorFlags {
  readonly strategy: Strategy;
  /** Most restarts allowed inside `periodMs`; one more gives up. */
  readonly intensity: number;
  readonly periodMs: number;
  readonly backoff: BackoffPolicy;
}

/** Capped exponential backoff with proportional jitter; the attempt count resets after `stableMs` of running. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly factor: number;
  readonly capMs: number;
  /** 0.2 = each delay is scaled by a random factor in [0.8, 1.2] (then capped). */
  readonly jitter: number;
  /** A run at least this long counts as stable: the next crash starts the sequence again. */
  readonly stableMs: number;
}

/** Backoff defaults: 250 ms doubling to 30 s; five crashes in a row wait ≈ 7.75 s in total, inside the window. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, factor: 2, capMs: 30_000, jitter: 0.2, stableMs: 30_000 };

/**
 * 5 restarts in 30 s (OTP's own default is 1 in 5 s, tuned for in-memory children restarting in
 * microseconds). Our children restart with backoff and reconnect over the network, so the window is
 * longer; five covers a flapping broker or disk hiccup, while a child crashing on every start gives
 * up within ≈ 8 s and lets the service manager restart the whole process.
 */
export const DEFAULT_SUPERVISOR_FLAGS: SupervisorFlags = {
  strategy: 'one_for_one',
  intensity: 5,
  periodMs: 30_000,
  backoff: DEFAULT_BACKOFF,
};

/** OTP `do_restart`: whether a child with this restart type is restarted after exiting for `reason`. */
export function shouldRestart(restart: RestartType, reason: ExitReason): boolean {
  if (reason === 'shutdown' || reason === 'escalate') return false;
  switch (restart) {
    case 'permanent':
      return true;
    case 'transient':
      return reason === 'error';
    case 'temporary':
      return false;
  }
}

/** Escalation bypasses the restart window: the child itself says a restart cannot help. */
export function shouldGiveUpAtOnce(reason: ExitReason): boolean {
  return reason === 'escalate';
}

/**
 * OTP `restart_child` by strategy: the ids to restart, in start order, when `failedId` exits.
 * Unknown ids restart nothing.
 */
export function childrenToRestart(strategy: Strategy, startOrder: readonly string[], failedId: string): string[] {
  const index = startOrder.indexOf(failedId);
  if (index < 0) return [];
  switch (strategy) {
    case 'one_for_one':
      return [failedId];
    case 'rest_for_one':
      return startOrder.slice(index);
    case 'one_for_all':
      return [...startOrder];
  }
}

/**
 * OTP `add_restart`: records a restart at `now` in the sliding window and says whether the
 * supervisor must give up (more than `intensity` restarts inside `periodMs`). Restarts older than
 * the period fall out of the window.
 */
export function recordRestart(
  restartTimes: readonly number[],
  now: number,
  flags: Pick<SupervisorFlags, 'intensity' | 'periodMs'>,
): { restartTimes: number[]; giveUp: boolean } {
  const inWindow = restartTimes.filter((at) => now - at < flags.periodMs);
  inWindow.push(now);
  return { restartTimes: inWindow, giveUp: inWindow.length > flags.intensity };
}

/** Restarts still inside the window at `now` (for status). */
export function restartsInWindow(restartTimes: readonly number[], now: number, periodMs: number): number {
  return restartTimes.filter((at) => now - at < periodMs).length;
}

/**
 * Akka `restartWithBackoff`: the wait before restart number `attempt` (0-based):
 * `min(cap, base × factor^attempt)` scaled by a jitter factor from `random01` ∈ [0, 1), then capped.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random01: number): number {
  const raw = Math.min(policy.capMs, policy.baseMs * policy.factor ** Math.max(0, attempt));
  const scale = 1 - policy.jitter + 2 * policy.jitter * Math.min(Math.max(random01, 0), 1);
  return Math.round(Math.min(policy.capMs, raw * scale));
}

/**
 * The backoff attempt index for a restart after `ranForMs` of running: `consecutive` (restarts in a
 * row so far), or 0 after a stable run, so a child that crashes once a day always restarts fast.
 */
export function backoffAttempt(consecutive: number, ranForMs: number, policy: Pick<BackoffPolicy, 'stableMs'>): number {
  return ranForMs >= policy.stableMs ? 0 : consecutive;
}
