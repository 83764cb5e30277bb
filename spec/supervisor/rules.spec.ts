import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  DEFAULT_SUPERVISOR_FLAGS,
  backoffAttempt,
  backoffDelayMs,
  childrenToRestart,
  recordRestart,
  restartsInWindow,
  shouldGiveUpAtOnce,
  shouldRestart,
  type ExitReason,
} from '../../supervisor/rules.js';
import type { RestartType } from '../../supervisor/child-spec.js';

describe('shouldRestart (OTP restart types × exit reasons)', () => {
  const table: Array<[RestartType, ExitReason, boolean]> = [
    ['permanent', 'normal', true],
    ['permanent', 'error', true],
    ['permanent', 'shutdown', false],
    ['permanent', 'escalate', false],
    ['transient', 'normal', false],
    ['transient', 'error', true],
    ['transient', 'shutdown', false],
    ['transient', 'escalate', false],
    ['temporary', 'normal', false],
    ['temporary', 'error', false],
    ['temporary', 'shutdown', false],
    ['temporary', 'escalate', false],
  ];
  it.each(table)('%s child exiting with %s → restart %s', (type, reason, expected) => {
    expect(shouldRestart(type, reason)).toBe(expected);
  });

  it('gives up at once only on escalation', () => {
    expect((['normal', 'error', 'shutdown', 'escalate'] as ExitReason[]).filter(shouldGiveUpAtOnce)).toEqual(['escalate']);
  });
});

describe('childrenToRestart (strategies)', () => {
  const order = ['connection', 'config', 'heartbeat', 'executor'];
  it.each([
    ['one_for_one', 'config', ['config']],
    ['rest_for_one', 'config', ['config', 'heartbeat', 'executor']],
    ['rest_for_one', 'connection', order],
    ['rest_for_one', 'executor', ['executor']],
    ['one_for_all', 'heartbeat', order],
    ['one_for_one', 'unknown', []],
  ] as const)('%s when %s exits → %j', (strategy, failed, expected) => {
    expect(childrenToRestart(strategy, order, failed)).toEqual(expected);
  });
});

describe('recordRestart (sliding intensity window)', () => {
  const flags = { intensity: 5, periodMs: 30_000 };
  it('allows exactly `intensity` restarts inside the period and gives up on one more', () => {
    let times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = recordRestart(times, 1_000 * i, flags);
      expect(r.giveUp).toBe(false);
      times = r.restartTimes;
    }
    expect(recordRestart(times, 5_000, flags).giveUp).toBe(true);
  });

  it('forgets restarts that fall out of the period (edge: exactly periodMs old is out)', () => {
    const times = [0, 1, 2, 3, 4];
    expect(recordRestart(times, 29_999, flags).giveUp).toBe(true);
    const r = recordRestart(times, 30_000, flags);
    expect(r.giveUp).toBe(false);
    expect(r.restartTimes).toEqual([1, 2, 3, 4, 30_000]);
  });

  it('counts restarts in the window for status', () => {
    expect(restartsInWindow([0, 10_000, 20_000], 35_000, 30_000)).toBe(2);
  });

  it('default flags: one_for_one, 5 in 30 s', () => {
    expect(DEFAULT_SUPERVISOR_FLAGS).toMatchObject({ strategy: 'one_for_one', intensity: 5, periodMs: 30_000 });
  });
});

describe('backoffDelayMs (capped, jittered)', () => {
  const policy = { ...DEFAULT_BACKOFF, baseMs: 3_000, factor: 2, capMs: 30_000, jitter: 0.2 };
  it('follows the Akka sequence 3, 6, 12, 24, 30, 30 s without jitter (random = 0.5)', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelayMs(a, policy, 0.5))).toEqual([3_000, 6_000, 12_000, 24_000, 30_000, 30_000]);
  });
  it('jitter scales by ±20 % and never exceeds the cap', () => {
    expect(backoffDelayMs(0, policy, 0)).toBe(2_400);
    expect(backoffDelayMs(0, policy, 0.999999)).toBe(3_600);
    expect(backoffDelayMs(10, policy, 0.999999)).toBe(30_000);
  });
  it('default backoff keeps five crashes in a row inside the 30 s window', () => {
    const total = [0, 1, 2, 3, 4].reduce((sum, a) => sum + backoffDelayMs(a, DEFAULT_BACKOFF, 0.999999), 0);
    expect(total).toBeLessThan(DEFAULT_SUPERVISOR_FLAGS.periodMs);
  });
});

describe('backoffAttempt (reset after a stable run)', () => {
  it.each([
    [0, 0, 0],
    [3, 1_000, 3],
    [3, 29_999, 3],
    [3, 30_000, 0],
    [7, 3_600_000, 0],
  ])('after %i restarts in a row and a run of %i ms → attempt %i', (consecutive, ranFor, expected) => {
    expect(backoffAttempt(consecutive, ranFor, DEFAULT_BACKOFF)).toBe(expected);
  });
});
