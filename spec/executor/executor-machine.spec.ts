/** The executor statechart with fake effects: intake follows the broker, runs are spawned and drained, a failed intake is a crash. */
import { describe, expect, it } from 'vitest';
import { createActor, createMachine, fromCallback, fromPromise, type AnyEventObject } from 'xstate';
import type { ExecRuntime } from '../../actors/exec/exec-runtime.js';
import type { AdmittedCommand } from '../../actors/exec/intake-pipeline.js';
import type { AgentServices } from '../../actors/ports.js';
import { draftCommand } from '../../actors/command-publisher.js';
import { executorLogic } from '../../supervisor/children.js';

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function harness(opts: { intakeThrows?: boolean } = {}) {
  let broker: ((e: AnyEventObject) => void) | undefined;
  let admissions: ((e: AnyEventObject) => void) | undefined;
  let intake = false;
  const runs: Array<{ id: string; finish: () => void }> = [];
  // A stand-in run: finishes when told to, or on shutdown.
  const fakeRun = createMachine({
    id: 'fakeRun',
    context: ({ input }: { input: { admitted: AdmittedCommand } }) => ({ command: input.admitted.command }),
    initial: 'running',
    states: { running: { on: { shutdown: 'done', finish: 'done' } }, done: { type: 'final' } },
  });
  const machine = executorLogic.provide({
    actors: {
      createRuntime: fromPromise<ExecRuntime, AgentServices>(
        async () => ({ close: () => undefined, budget: { stats: () => ({ limit: 2, inUse: 0, waiting: 0 }) } }) as unknown as ExecRuntime,
      ),
      recoverAdmissions: fromPromise<AdmittedCommand[], ExecRuntime>(async () => []),
      watchBroker: fromCallback(({ sendBack }) => {
        broker = sendBack;
      }),
      // Admitted commands reach the executor through the runtime's sink, not from the intake actor.
      watchAdmissions: fromCallback(({ sendBack }) => {
        admissions = sendBack;
      }),
      runIntake: fromCallback(() => {
        if (opts.intakeThrows) throw new Error('subscribe failed: connection closed');
        intake = true;
        return () => {
          intake = false;
        };
      }),
      commandRun: fakeRun as never,
    },
  });
  const actor = createActor(machine, { input: { random: () => 0.5 } as AgentServices });
  actor.subscribe({ error: () => undefined });
  actor.start();
  const admit = (script: string) => {
    const command = draftCommand({ shell: 'sh', script });
    admissions?.({ type: 'command.admitted', admitted: { command, record: { result_id: command.request_id } } });
    return command;
  };
  return {
    actor,
    connect: () => broker?.({ type: 'broker.connected', nc: {} }),
    disconnect: () => broker?.({ type: 'broker.disconnected' }),
    admit,
    runs,
    intakeOn: () => intake,
  };
}

describe('executor machine', () => {
  it('turns intake on and off with the broker and spawns one run per admitted command', async () => {
    const h = harness();
    await settle();
    expect(h.actor.getSnapshot().matches({ active: 'offline' })).toBe(true);
    expect(h.actor.getSnapshot().hasTag('degraded')).toBe(true);
    h.connect();
    expect(h.intakeOn()).toBe(true);
    expect(h.actor.getSnapshot().context.status.intake).toBe('on');
    const a = h.admit('a');
    h.admit('b');
    expect(h.actor.getSnapshot().context.status.running).toHaveLength(2);
    expect(h.actor.getSnapshot().context.status.running[0]).toBe(a.request_id);
    h.disconnect();
    expect(h.intakeOn()).toBe(false);
    expect(h.actor.getSnapshot().context.status.intake).toBe('off');
    // Runs go on without the broker.
    expect(Object.keys(h.actor.getSnapshot().context.runs)).toHaveLength(2);
  });

  it('a command admitted after the intake was stopped by a disconnect still runs (the sink outlives the intake)', async () => {
    const h = harness();
    await settle();
    h.connect();
    h.disconnect();
    expect(h.intakeOn()).toBe(false);
    const a = h.admit('late');
    expect(h.actor.getSnapshot().context.status.running).toEqual([a.request_id]);
  });

  it('shutdown stops intake, tells every run, and is final once the runs are done', async () => {
    const h = harness();
    await settle();
    h.connect();
    h.admit('a');
    h.actor.send({ type: 'shutdown' });
    expect(h.intakeOn()).toBe(false);
    await settle();
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.actor.getSnapshot().context.status.finished).toBe(1);
  });

  it('a failing intake crashes the child (the supervisor restarts it) instead of leaving intake dead', async () => {
    const h = harness({ intakeThrows: true });
    await settle();
    h.connect();
    await settle();
    expect(h.actor.getSnapshot().status).toBe('error');
  });
});
