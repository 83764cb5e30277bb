/** The root's bookkeeping (supervisor/bookkeeping.ts) as tables: exit → plan, stop → queue, stopped → record. */
import { describe, expect, it } from 'vitest';
import {
  initialRecord,
  planExit,
  planStop,
  recordStart,
  recordStopped,
  stopGraceMs,
  type Books,
  type ChildRecord,
  type Records,
} from '../../supervisor/bookkeeping.js';
import type { RestartType } from '../../supervisor/child-spec.js';
import { DEFAULT_SUPERVISOR_FLAGS, type ExitReason, type Strategy } from '../../supervisor/rules.js';

/** 0.5 ⇒ jitter scale 1.0: the backoff is exactly 250, 500, 1000 … ms. */
const NO_JITTER = 0.5;
const NOW = 100_000;

function running(id: string, overrides: Partial<ChildRecord> = {}): ChildRecord {
  return { ...initialRecord(id), phase: 'running', startedAt: NOW - 1_000, ...overrides };
}

function books(
  children: Array<[string, RestartType]>,
  opts: { records?: Records; restartTimes?: number[]; strategy?: Strategy } = {},
): Books {
  return {
    order: children.map(([id, restart]) => ({ id, restart })),
    records: opts.records ?? Object.fromEntries(children.map(([id]) => [id, running(id)])),
    restartTimes: opts.restartTimes ?? [],
    flags: { ...DEFAULT_SUPERVISOR_FLAGS, strategy: opts.strategy ?? 'one_for_one' },
  };
}

describe('planExit: restart type × exit reason', () => {
  const table: Array<[RestartType, ExitReason, 'restart' | 'stopped' | 'gaveUp']> = [
    ['permanent', 'normal', 'restart'],
    ['permanent', 'error', 'restart'],
    ['permanent', 'shutdown', 'stopped'],
    ['permanent', 'escalate', 'gaveUp'],
    ['transient', 'normal', 'stopped'],
    ['transient', 'error', 'restart'],
    ['transient', 'escalate', 'gaveUp'],
    ['temporary', 'error', 'stopped'],
    ['temporary', 'normal', 'stopped'],
  ];
  it.each(table)('%s child exiting with %s → %s', (restart, reason, expected) => {
    const plan = planExit(books([['a', restart]]), { id: 'a', reason, error: reason === 'error' ? 'Error: boom' : null }, NOW, NO_JITTER);
    const outcome = plan.giveUp !== null ? 'gaveUp' : plan.restart !== null ? 'restart' : 'stopped';
    expect(outcome).toBe(expected);
    expect(plan.stop).toEqual(['a']);
    expect(plan.records['a']).toMatchObject({
      phase: expected === 'restart' ? 'backoff' : 'stopped',
      startedAt: null,
      lastExit: { reason, at: NOW },
    });
  });
});

describe('planExit: backoff, window, strategy', () => {
  it('restarts after the first backoff step and logs the exit and the restart', () => {
    const plan = planExit(books([['a', 'permanent']]), { id: 'a', reason: 'error', error: 'Error: boom' }, NOW, NO_JITTER);
    expect(plan.restart).toEqual({ ids: ['a'], delayMs: 250 });
    expect(plan.records['a']).toMatchObject({ phase: 'backoff', consecutive: 1, nextRestartAt: NOW + 250 });
    expect(plan.restartTimes).toEqual([NOW]);
    expect(plan.log.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'child a exited (error)'],
      ['info', 'restarting a in 250 ms'],
    ]);
  });

  const backoffTable: Array<[number, number, number]> = [
    // consecutive restarts so far, ran for (ms), expected delay
    [0, 1_000, 250],
    [1, 1_000, 500],
    [3, 1_000, 2_000],
    [4, 30_000, 250],
  ];
  it.each(backoffTable)('after %i restarts in a row and a run of %i ms the delay is %i ms', (consecutive, ranFor, delay) => {
    const b = books([['a', 'permanent']], { records: { a: running('a', { consecutive, startedAt: NOW - ranFor }) } });
    expect(planExit(b, { id: 'a', reason: 'error', error: 'x' }, NOW, NO_JITTER).restart?.delayMs).toBe(delay);
  });

  it('gives up on the restart that exceeds the window (5 in 30 s), naming the last error', () => {
    const b = books([['a', 'permanent']], { restartTimes: [NOW - 5_000, NOW - 4_000, NOW - 3_000, NOW - 2_000, NOW - 1_000] });
    const plan = planExit(b, { id: 'a', reason: 'error', error: 'Error: boom' }, NOW, NO_JITTER);
    expect(plan.restart).toBeNull();
    expect(plan.giveUp).toEqual({ child: 'a', reason: 'more than 5 restarts in 30000 ms; last: Error: boom' });
    expect(plan.records['a']?.phase).toBe('stopped');
  });

  it('restarts older than the period fall out of the window', () => {
    const b = books([['a', 'permanent']], { restartTimes: [NOW - 40_000, NOW - 35_000, NOW - 31_000, NOW - 2_000, NOW - 1_000] });
    expect(planExit(b, { id: 'a', reason: 'error', error: 'x' }, NOW, NO_JITTER).restartTimes).toEqual([NOW - 2_000, NOW - 1_000, NOW]);
  });

  it('rest_for_one stops and restarts the running children after the failed one, not those before or already stopped', () => {
    const records = { a: running('a'), b: running('b'), c: running('c'), d: { ...initialRecord('d') } };
    const b = books(
      [
        ['a', 'permanent'],
        ['b', 'permanent'],
        ['c', 'permanent'],
        ['d', 'permanent'],
      ],
      { records, strategy: 'rest_for_one' },
    );
    const plan = planExit(b, { id: 'b', reason: 'error', error: 'x' }, NOW, NO_JITTER);
    expect(plan.stop).toEqual(['b', 'c']);
    expect(plan.restart?.ids).toEqual(['b', 'c']);
    expect(plan.records['c']).toMatchObject({ phase: 'backoff', lastExit: { reason: 'shutdown', error: 'restarted with b' } });
    expect(plan.records['a']?.phase).toBe('running');
  });

  it('ignores the exit of a child that is not running (already stopping or unknown)', () => {
    const b = books([['a', 'permanent']], { records: { a: running('a', { phase: 'stopping' }) } });
    for (const id of ['a', 'ghost']) {
      const plan = planExit(b, { id, reason: 'error', error: 'x' }, NOW, NO_JITTER);
      expect(plan).toMatchObject({ stop: [], restart: null, giveUp: null, log: [] });
      expect(plan.records).toBe(b.records);
    }
  });
});

describe('planStop, stopGraceMs, recordStart, recordStopped', () => {
  it('queues running children in reverse start order and cancels pending restarts', () => {
    const records = {
      a: running('a'),
      b: running('b', { phase: 'backoff', nextRestartAt: NOW + 500 }),
      c: running('c'),
      d: initialRecord('d'),
    };
    const plan = planStop(['a', 'b', 'c', 'd'], records);
    expect(plan.queue).toEqual(['c', 'a']);
    expect(plan.cancelRestarts).toEqual(['b']);
    expect(plan.records['b']).toMatchObject({ phase: 'stopped', nextRestartAt: null });
  });

  const graceTable: Array<[number, number | null, number]> = [
    // own grace, tree deadline (relative to now), expected
    [1_000, 9_000, 1_000],
    [9_000, 2_500, 2_500],
    [1_000, 0, 0],
    [1_000, -50, 0],
    [1_000, null, 0],
  ];
  it.each(graceTable)('own grace %i ms with %s ms left of the budget → %i ms', (own, left, expected) => {
    expect(stopGraceMs(own, left === null ? null : NOW + left, NOW)).toBe(expected);
  });

  it('a start counts a restart only when it is one', () => {
    const records = { a: initialRecord('a') };
    expect(recordStart(records, 'a', NOW, false)['a']).toMatchObject({ phase: 'running', startedAt: NOW, restarts: 0 });
    expect(recordStart(records, 'a', NOW, true)['a']).toMatchObject({ restarts: 1 });
  });

  it('a child that ignored its grace is recorded as killed; one that ended says why; a stopped one is left alone', () => {
    const records = { a: running('a', { phase: 'stopping' }), b: initialRecord('b') };
    expect(recordStopped(records, 'a', null, NOW)['a']?.lastExit).toEqual({
      reason: 'killed',
      at: NOW,
      error: 'did not stop within its shutdown grace',
    });
    expect(recordStopped(records, 'a', { id: 'a', reason: 'shutdown', error: null }, NOW)['a']?.lastExit).toEqual({
      reason: 'shutdown',
      at: NOW,
      error: null,
    });
    expect(recordStopped(records, 'b', null, NOW)).toBe(records);
  });
});
