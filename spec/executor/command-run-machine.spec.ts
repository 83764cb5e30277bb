/** The commandRun statechart with fake effects on a simulated clock: jitter, slot, timeout, retry, kill, shutdown. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyEventObject } from 'xstate';
import type { AdmissionRecord } from '../../actors/exec/admission-ledger.js';
import type { ExecRuntime } from '../../actors/exec/exec-runtime.js';
import type { ScriptFetch } from '../../actors/exec/fetch-script.js';
import type { GateSkip } from '../../actors/exec/gates.js';
import type { RunEffectInput } from '../../actors/exec/run-actors.js';
import { draftCommand } from '../../actors/command-publisher.js';
import type { ExecResult, Command } from '../../contract/index.js';
import { commandRunMachine } from '../../machines/command-run-machine.js';

const T0 = Date.parse('2026-05-16T00:00:00Z');

function harness(draft: Partial<Command> & Pick<Command, 'shell' | 'script'>, opts: { slot?: 'free' | 'never' } = {}) {
  const clock = new SimulatedClock();
  clock.set(T0);
  const command = draftCommand(draft);
  const record = {
    request_id: command.request_id,
    result_id: '11111111-2222-4333-8444-555555555555',
    received_at: new Date(T0).toISOString(),
  } as AdmissionRecord;
  const runtime = {
    now: () => clock.now(),
    pcId: 'PC1',
    log: pino({ level: 'silent' }),
    budget: { available: () => opts.slot !== 'never' },
  } as unknown as ExecRuntime;
  const delivered: ExecResult[] = [];
  const processes: Array<{ send: (e: AnyEventObject) => void; kills: number }> = [];
  let killSwitch: ((e: AnyEventObject) => void) | undefined;
  const machine = commandRunMachine.provide({
    actors: {
      checkRunGates: fromPromise<GateSkip | undefined, RunEffectInput>(async () => undefined),
      fetchScript: fromPromise<ScriptFetch, RunEffectInput>(async () => ({ ok: true, script: command.script })),
      watchKill: fromCallback(({ sendBack }) => {
        killSwitch = sendBack;
      }),
      holdSlot: fromCallback(({ sendBack, receive }) => {
        receive((e) => {
          if (e.type === 'slot.request' && opts.slot !== 'never') sendBack({ type: 'slot.granted' });
        });
      }),
      markLaunching: fromPromise(async () => record),
      runProcess: fromCallback(({ sendBack, receive }) => {
        const proc = { send: sendBack, kills: 0 };
        receive((e) => {
          if (e.type === 'kill') proc.kills += 1;
        });
        processes.push(proc);
      }),
      deliverRunResult: fromPromise<void, { runtime: ExecRuntime; record: AdmissionRecord; result: ExecResult }>(async ({ input }) => {
        delivered.push(input.result);
      }),
    },
  });
  const actor = createActor(machine, { input: { runtime, admitted: { command, record }, jitterDraw: 0.5 }, clock });
  actor.start();
  const exit = (exitCode: number, stderr = '') =>
    processes
      .at(-1)
      ?.send({ type: 'process.exited', outcome: { kind: 'exited', exitCode, stdout: '', stderr }, finishedAtMs: clock.now() });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { clock, actor, delivered, processes, exit, settle, remoteKill: () => killSwitch?.({ type: 'kill', reason: 'remote' }), command };
}

describe('commandRun machine', () => {
  it('waits its jitter on the clock; a kill during jitter never starts the process', async () => {
    const h = harness({ shell: 'sh', script: 'x', jitter_secs: 10, exec_id: 'e1' });
    await h.settle();
    expect(h.actor.getSnapshot().matches({ armed: 'jitter' })).toBe(true);
    h.remoteKill();
    await h.settle();
    expect(h.processes).toHaveLength(0);
    expect(h.delivered[0]).toMatchObject({ exit_code: -1, stderr: 'killed by remote signal (kill.e1)' });
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('times out after timeout_secs from spawn: kill, then -1 with "timeout after <N>s"', async () => {
    const h = harness({ shell: 'sh', script: 'x', timeout_secs: 5 });
    await h.settle();
    expect(h.actor.getSnapshot().matches({ armed: { executing: 'running' } })).toBe(true);
    h.clock.increment(4_999);
    expect(h.processes[0]?.kills).toBe(0);
    h.clock.increment(1);
    expect(h.actor.getSnapshot().matches({ armed: { executing: 'killing' } })).toBe(true);
    expect(h.processes[0]?.kills).toBe(1);
    h.exit(143, 'partial');
    await h.settle();
    expect(h.delivered).toHaveLength(1);
    expect(h.delivered[0]).toMatchObject({ exit_code: -1, skipped: false, stderr: 'partial\ntimeout after 5s' });
  });

  // Review finding: a kill in `killing` used to be dropped, and the timeout then retried the job.
  it.each([
    ['a remote kill', 'killed by remote signal (kill.e3)'],
    ['shutdown', 'killed: agent shutting down'],
  ] as const)('%s while a timeout is being enforced wins: no retry, one -1 result (§8.4)', async (what, line) => {
    const h = harness({ shell: 'sh', script: 'x', exec_id: 'e3', timeout_secs: 5, retry: { max: 2, backoff_secs: 1 } });
    await h.settle();
    h.clock.increment(5_000);
    expect(h.actor.getSnapshot().matches({ armed: { executing: 'killing' } })).toBe(true);
    if (what === 'shutdown') h.actor.send({ type: 'shutdown' });
    else h.remoteKill();
    h.exit(143);
    await h.settle();
    h.clock.increment(10_000);
    await h.settle();
    expect(h.processes).toHaveLength(1);
    expect(h.delivered).toHaveLength(1);
    expect(h.delivered[0]?.exit_code).toBe(-1);
    expect(h.delivered[0]?.stderr).toContain(line);
  });

  it("a timeout beyond setTimeout's 24.8-day ceiling does not fire at once", async () => {
    const h = harness({ shell: 'sh', script: 'x', timeout_secs: 3_000_000 });
    await h.settle();
    h.clock.increment(60_000);
    expect(h.actor.getSnapshot().matches({ armed: { executing: 'running' } })).toBe(true);
    expect(h.processes[0]?.kills).toBe(0);
  });

  it('retries after a failure with backoff on the clock and notes the success', async () => {
    const h = harness({ shell: 'sh', script: 'x', retry: { max: 2, backoff_secs: 3 } });
    await h.settle();
    h.exit(1);
    await h.settle();
    expect(h.actor.getSnapshot().matches({ armed: 'backoff' })).toBe(true);
    h.clock.increment(2_999);
    expect(h.processes).toHaveLength(1);
    h.clock.increment(1);
    await h.settle();
    expect(h.processes).toHaveLength(2);
    h.exit(0);
    await h.settle();
    expect(h.delivered).toHaveLength(1);
    expect(h.delivered[0]).toMatchObject({ exit_code: 0, stderr: 'succeeded after 1 retry (#418 on_failure.retry)' });
  });

  it('a remote kill during backoff ends the retries with the kill note', async () => {
    const h = harness({ shell: 'sh', script: 'x', exec_id: 'e2', retry: { max: 3, backoff_secs: 60 } });
    await h.settle();
    h.exit(2, 'boom');
    await h.settle();
    h.remoteKill();
    await h.settle();
    expect(h.delivered[0]).toMatchObject({ exit_code: -1, stderr: 'boom\nstopped by remote kill after 1 retries' });
  });

  it('deadline passing while waiting for a slot skips with 125; shutdown while waiting queues the shutdown result', async () => {
    const late = harness({ shell: 'sh', script: 'x', deadline_at: new Date(T0 + 2_000).toISOString() }, { slot: 'never' });
    await late.settle();
    expect(late.actor.getSnapshot().matches({ armed: 'waitingForSlot' })).toBe(true);
    late.clock.increment(2_000);
    expect(late.delivered).toHaveLength(0);
    late.clock.increment(1);
    await late.settle();
    expect(late.delivered[0]).toMatchObject({
      exit_code: 125,
      skipped: true,
      stderr: 'skipped: starting deadline expired while waiting for local job slot',
    });

    const stopped = harness({ shell: 'sh', script: 'x' }, { slot: 'never' });
    await stopped.settle();
    stopped.actor.send({ type: 'shutdown' });
    await stopped.settle();
    expect(stopped.delivered[0]).toMatchObject({ exit_code: -1, stderr: 'killed: agent shutting down' });
  });

  it('shutdown while running kills the process and reports the shutdown line', async () => {
    const h = harness({ shell: 'sh', script: 'x', timeout_secs: 0 });
    await h.settle();
    h.clock.increment(3_600_000);
    expect(h.processes[0]?.kills).toBe(0);
    h.actor.send({ type: 'shutdown' });
    await h.settle();
    expect(h.processes[0]?.kills).toBe(1);
    h.exit(143);
    await h.settle();
    expect(h.delivered[0]).toMatchObject({ exit_code: -1, stderr: 'killed: agent shutting down' });
  });
});
