import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type AnyActorRef, type AnyStateMachine } from 'xstate';
import type { ChildSpec, RestartType } from '../../supervisor/child-spec.js';
import { rootMachine, type StopCause } from '../../supervisor/root-machine.js';
import { DEFAULT_SUPERVISOR_FLAGS, type SupervisorFlags } from '../../supervisor/rules.js';
import { projectStatus } from '../../supervisor/status-projection.js';
import {
  crashAlwaysChild,
  crashTimesChild,
  escalatingChild,
  exitsNormallyChild,
  fakeServices,
  gracefulChild,
  ignoresShutdownChild,
  slowShutdownChild,
} from './fake-children.js';

const spec = (id: string, logic: AnyStateMachine, restart: RestartType = 'permanent', shutdownMs = 1_000): ChildSpec => ({
  id,
  logic,
  restart,
  shutdownMs,
});

function childRef(root: { getSnapshot(): { children: unknown } }, id: string): AnyActorRef | undefined {
  return (root.getSnapshot().children as Record<string, AnyActorRef | undefined>)[id];
}

/** Jitter-free random (0.5 ⇒ scale 1.0): backoff is 250, 500, 1000, 2000, 4000 ms. */
const NO_JITTER = () => 0.5;

function startRoot(children: ChildSpec[], opts: { flags?: Partial<SupervisorFlags>; failpoints?: string; shutdownBudgetMs?: number } = {}) {
  const clock = new SimulatedClock();
  const services = fakeServices(opts.failpoints);
  const root = createActor(rootMachine, {
    clock,
    input: {
      services,
      children,
      flags: { ...DEFAULT_SUPERVISOR_FLAGS, ...opts.flags },
      now: () => clock.now(),
      random: NO_JITTER,
      ...(opts.shutdownBudgetMs === undefined ? {} : { shutdownBudgetMs: opts.shutdownBudgetMs }),
    },
  });
  const errors: unknown[] = [];
  root.subscribe({ error: (e) => errors.push(e) });
  root.start();
  const record = (id: string) => root.getSnapshot().context.records[id]!;
  const phases = () => Object.fromEntries(children.map((c) => [c.id, record(c.id).phase]));
  const status = () => projectStatus({ root: root.getSnapshot(), services, startedAt: 0, now: clock.now(), pid: 1 });
  return { clock, root, record, phases, errors, status, services };
}

describe('root supervisor: start and restart', () => {
  it('starts every child in list order', () => {
    const { root, phases } = startRoot([spec('a', gracefulChild), spec('b', gracefulChild), spec('c', gracefulChild)]);
    expect(Object.keys(root.getSnapshot().children as object)).toEqual(['a', 'b', 'c']);
    expect(phases()).toEqual({ a: 'running', b: 'running', c: 'running' });
  });

  it('restarts a child that crashed once after the first backoff step, as a fresh actor', () => {
    const { clock, root, record, status } = startRoot([spec('a', crashTimesChild(1))]);
    expect(record('a')).toMatchObject({ phase: 'backoff', nextRestartAt: 250, restarts: 0 });
    expect(record('a').lastExit).toMatchObject({ reason: 'error', error: 'Error: crash #1' });
    expect(childRef(root, 'a')).toBeUndefined();
    expect(status().health).toBe('degraded');
    expect(status().children[0]).toMatchObject({ phase: 'backoff', next_restart_in_ms: 250, state: null });
    clock.increment(249);
    expect(record('a').phase).toBe('backoff');
    clock.increment(1);
    expect(record('a')).toMatchObject({ phase: 'running', restarts: 1, nextRestartAt: null });
    expect(childRef(root, 'a')?.getSnapshot().status).toBe('active');
    expect(status().children[0]).toMatchObject({ phase: 'running', state: 'running', restarts: 1 });
  });

  it('gives up when a child crashes on every start: more than 5 restarts in 30 s, tree stopped, output says why', () => {
    const { clock, root, record, errors } = startRoot([spec('ok', gracefulChild), spec('bad', crashAlwaysChild)]);
    const delays = [250, 500, 1_000, 2_000, 4_000];
    for (const delay of delays) {
      expect(record('bad').phase).toBe('backoff');
      clock.increment(delay);
    }
    expect(root.getSnapshot().status).toBe('done');
    const output = root.getSnapshot().output as StopCause;
    expect(output).toMatchObject({ kind: 'gave_up', child: 'bad' });
    expect(output.kind === 'gave_up' && output.reason).toMatch(/more than 5 restarts in 30000 ms; last: Error: always broken/);
    expect(record('bad').restarts).toBe(5);
    expect(record('ok').phase).toBe('stopped');
    expect(errors).toEqual([]);
  });

  it('one_for_one restarts only the crashed child', () => {
    const { clock, root, record } = startRoot([spec('a', gracefulChild), spec('b', gracefulChild), spec('c', gracefulChild)]);
    const cBefore = childRef(root, 'c');
    childRef(root, 'b')!.send({ type: 'crash' });
    expect([record('a').phase, record('b').phase, record('c').phase]).toEqual(['running', 'backoff', 'running']);
    clock.increment(250);
    expect(record('b')).toMatchObject({ phase: 'running', restarts: 1 });
    expect(childRef(root, 'c')).toBe(cBefore);
  });

  it('rest_for_one restarts the crashed child and every child started after it, in order', () => {
    const { clock, root, record } = startRoot([spec('a', gracefulChild), spec('b', gracefulChild), spec('c', gracefulChild)], {
      flags: { strategy: 'rest_for_one' },
    });
    const aBefore = childRef(root, 'a');
    childRef(root, 'b')!.send({ type: 'crash' });
    expect([record('a').phase, record('b').phase, record('c').phase]).toEqual(['running', 'backoff', 'backoff']);
    clock.increment(250);
    expect(Object.keys(root.getSnapshot().children as object)).toEqual(['a', 'b', 'c']);
    expect(childRef(root, 'a')).toBe(aBefore);
    expect([record('b').restarts, record('c').restarts]).toEqual([1, 1]);
    expect(root.getSnapshot().context.restartTimes).toHaveLength(1);
  });

  it('backoff grows with consecutive crashes and resets after a stable run', () => {
    const { clock, root, record } = startRoot([spec('a', gracefulChild)]);
    const crash = () => childRef(root, 'a')!.send({ type: 'crash' });
    crash();
    expect(record('a').nextRestartAt! - clock.now()).toBe(250);
    clock.increment(250);
    crash();
    expect(record('a').nextRestartAt! - clock.now()).toBe(500);
    clock.increment(500);
    clock.increment(30_000); // a stable run
    crash();
    expect(record('a').nextRestartAt! - clock.now()).toBe(250);
  });

  it('restart types: transient is not restarted after a normal exit, temporary not after a crash, permanent after both', () => {
    const { clock, record } = startRoot([
      spec('transient', exitsNormallyChild(100), 'transient'),
      spec('temporary', crashAlwaysChild, 'temporary'),
      spec('permanent', exitsNormallyChild(100), 'permanent'),
    ]);
    expect(record('temporary')).toMatchObject({ phase: 'stopped', restarts: 0 });
    clock.increment(100);
    expect(record('transient')).toMatchObject({ phase: 'stopped', lastExit: { reason: 'normal' } });
    expect(record('permanent')).toMatchObject({ phase: 'backoff', lastExit: { reason: 'normal' } });
    clock.increment(250);
    expect(record('permanent')).toMatchObject({ phase: 'running', restarts: 1 });
  });

  it('an EscalationError gives up at once, whatever the window', () => {
    const { root, record } = startRoot([spec('ok', gracefulChild), spec('esc', escalatingChild)]);
    childRef(root, 'esc')!.send({ type: 'crash' });
    expect(root.getSnapshot().status).toBe('done');
    expect(root.getSnapshot().output).toMatchObject({
      kind: 'gave_up',
      child: 'esc',
      reason: 'escalated: EscalationError: credentials refused',
    });
    expect(record('esc')).toMatchObject({ restarts: 0, lastExit: { reason: 'escalate' } });
    expect(record('ok')).toMatchObject({ phase: 'stopped', lastExit: { reason: 'shutdown' } });
  });

  it('the <id>.start failpoint makes a start fail like a crash (throw-once: restarted once)', () => {
    const { clock, record } = startRoot([spec('a', gracefulChild)], { failpoints: 'a.start=throw-once' });
    expect(record('a')).toMatchObject({
      phase: 'backoff',
      lastExit: { reason: 'error', error: 'FailpointError: failpoint a.start triggered' },
    });
    clock.increment(250);
    expect(record('a')).toMatchObject({ phase: 'running', restarts: 1 });
  });
});

describe('root supervisor: shutdown', () => {
  it('stops children one at a time in reverse start order, each after the previous finished', () => {
    const { clock, root, phases } = startRoot([
      spec('a', slowShutdownChild(100)),
      spec('b', slowShutdownChild(100)),
      spec('c', slowShutdownChild(100)),
    ]);
    root.send({ type: 'shutdown' });
    expect(phases()).toEqual({ a: 'running', b: 'running', c: 'stopping' });
    clock.increment(100);
    expect(phases()).toEqual({ a: 'running', b: 'stopping', c: 'stopped' });
    clock.increment(100);
    expect(phases()).toEqual({ a: 'stopping', b: 'stopped', c: 'stopped' });
    clock.increment(100);
    expect(root.getSnapshot().status).toBe('done');
    expect(root.getSnapshot().output).toEqual({ kind: 'shutdown' });
    expect(root.getSnapshot().context.records['a']!.lastExit).toMatchObject({ reason: 'shutdown' });
  });

  it('stops a child that ignores shutdown by force when its grace expires', () => {
    const { clock, root, record } = startRoot([spec('a', gracefulChild), spec('stubborn', ignoresShutdownChild, 'permanent', 2_000)]);
    root.send({ type: 'shutdown' });
    clock.increment(1_999);
    expect(record('stubborn').phase).toBe('stopping');
    expect(record('a').phase).toBe('running');
    clock.increment(1);
    expect(record('stubborn')).toMatchObject({ phase: 'stopped', lastExit: { reason: 'killed' } });
    expect(root.getSnapshot().status).toBe('done');
    expect(record('a').lastExit).toMatchObject({ reason: 'shutdown' });
  });

  it('keeps the whole shutdown inside the budget even when graces add up to more', () => {
    const { clock, root } = startRoot(
      [
        spec('a', ignoresShutdownChild, 'permanent', 5_000),
        spec('b', ignoresShutdownChild, 'permanent', 5_000),
        spec('c', ignoresShutdownChild, 'permanent', 5_000),
      ],
      { shutdownBudgetMs: 9_000 },
    );
    root.send({ type: 'shutdown' });
    clock.increment(8_999);
    expect(root.getSnapshot().status).toBe('active');
    clock.increment(1);
    expect(root.getSnapshot().status).toBe('done');
  });

  it('a shutdown during backoff cancels the pending restart', () => {
    const { clock, root, record } = startRoot([spec('ok', gracefulChild), spec('bad', crashAlwaysChild)]);
    expect(record('bad').phase).toBe('backoff');
    root.send({ type: 'shutdown' });
    expect(root.getSnapshot().status).toBe('done');
    clock.increment(60_000);
    expect(record('bad')).toMatchObject({ phase: 'stopped', restarts: 0 });
  });

  it('health: healthy when all run and the broker is connected, gave_up after giving up', () => {
    const { status, services, root } = startRoot([spec('a', gracefulChild)]);
    expect(status().health).toBe('degraded'); // broker never connected
    (services.broker as unknown as { connected: (nc: unknown, s: string, t: number) => void }).connected({}, 'nats://x', 0);
    expect(status()).toMatchObject({ health: 'healthy', connection: { connected: true, server: 'nats://x' } });
    expect(status().children[0]).toMatchObject({ id: 'a', tags: ['healthy'], status: { ok: true } });
    root.send({ type: 'child.exited', id: 'a', reason: 'escalate', error: 'x' });
    expect(status().health).toBe('gave_up');
  });
});

describe('root supervisor: <id>.shutdown failpoint', () => {
  it('withholds shutdown from the child, which is stopped by force after its grace', () => {
    const { clock, root, record } = startRoot([spec('a', gracefulChild, 'permanent', 500)], { failpoints: 'a.shutdown=throw' });
    root.send({ type: 'shutdown' });
    clock.increment(499);
    expect(record('a').phase).toBe('stopping');
    clock.increment(1);
    expect(record('a').lastExit).toMatchObject({ reason: 'killed' });
    expect(root.getSnapshot().status).toBe('done');
  });
});
