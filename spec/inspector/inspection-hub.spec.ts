import { describe, expect, it } from 'vitest';
import { assign, createActor, setup, type AnyActorRef } from 'xstate';
import { createInspectionHub } from '../../devtools/inspector/inspection-hub.js';
import { REDACTED } from '../../devtools/inspector/redact.js';

const job = setup({}).createMachine({
  id: 'job',
  initial: 'running',
  states: { running: { tags: ['busy'], on: { finish: 'finished' } }, finished: { type: 'final' } },
});

const worker = setup({
  types: { context: {} as { status: { jobs: number; token: string }; job?: AnyActorRef } },
  actors: { job },
}).createMachine({
  id: 'worker',
  context: { status: { jobs: 0, token: 'secret-token' } },
  initial: 'idle',
  states: {
    idle: {
      tags: ['healthy'],
      on: {
        'job.start': {
          actions: assign({
            job: ({ spawn }) => spawn('job', { id: 'job-1' }),
            status: ({ context }) => ({ ...context.status, jobs: context.status.jobs + 1 }),
          }),
        },
        'job.finish': { actions: ({ context }) => context.job?.send({ type: 'finish' }) },
        'creds.rotated': {},
      },
    },
  },
});

const root = setup({ actors: { worker } }).createMachine({
  id: 'root',
  context: {
    services: { config: { pcId: 'pc-test' } },
    records: {
      worker: { id: 'worker', phase: 'running', restarts: 2, nextRestartAt: null, lastExit: { reason: 'crashed', error: 'boom' } },
    },
  },
  invoke: { id: 'worker', systemId: 'worker', src: 'worker' },
});

describe('createInspectionHub', () => {
  it('tracks the live tree with active states, supervisor records, redacted summaries and the pc_id', () => {
    const hub = createInspectionHub();
    const actor = createActor(root, { inspect: hub.inspect }).start();
    const actors = hub.actors();
    const rootView = actors.find((a) => a.parent === undefined)!;
    const workerView = actors.find((a) => a.id === 'worker')!;
    expect(rootView.chart).toBe('root');
    expect(workerView).toMatchObject({
      parent: rootView.sessionId,
      chart: 'worker',
      kind: 'machine',
      status: 'active',
      value: 'idle',
      tags: ['healthy'],
    });
    expect(workerView.active).toEqual(['worker', 'worker.idle']);
    expect(workerView.summary).toEqual({ jobs: 0, token: REDACTED });
    expect(rootView.supervision?.['worker']).toMatchObject({ phase: 'running', restarts: 2, nextRestartInMs: null });
    expect(hub.title()).toBe('pc-test');
    expect(hub.machine('worker')?.id).toBe('worker');
    actor.stop();
  });

  it('shows spawned actors while they live, then keeps them among the recently ended', () => {
    const hub = createInspectionHub();
    const actor = createActor(root, { inspect: hub.inspect }).start();
    const workerRef = actor.getSnapshot().children['worker'] as AnyActorRef;
    workerRef.send({ type: 'job.start' });
    const job1 = hub.actors().find((a) => a.id === 'job-1')!;
    expect(job1).toMatchObject({ chart: 'job', value: 'running', tags: ['busy'] });
    expect(job1.parent).toBe(workerRef.sessionId);
    workerRef.send({ type: 'job.finish' });
    expect(hub.actors().some((a) => a.id === 'job-1')).toBe(false);
    expect(hub.ended().find((a) => a.id === 'job-1')).toMatchObject({ status: 'done', value: 'finished', active: ['job', 'job.finished'] });
    const kinds = hub
      .events()
      .filter((e) => e.actorId === 'job-1')
      .map((e) => `${e.kind}:${e.type}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['started:machine job', 'state:"running"', 'event:finish', 'state:"finished"', 'ended:done']),
    );
    actor.stop();
  });

  it('logs events with redacted payloads and bounds the log', () => {
    const hub = createInspectionHub({ eventLogSize: 10 });
    const actor = createActor(root, { inspect: hub.inspect }).start();
    const workerRef = actor.getSnapshot().children['worker'] as AnyActorRef;
    workerRef.send({ type: 'creds.rotated', password: 'pw', script: 'echo hi', headers: { 'Kanade-Sig': 'sig' } });
    const entry = hub.events().find((e) => e.type === 'creds.rotated')!;
    expect(entry.payload).toEqual({
      type: 'creds.rotated',
      password: REDACTED,
      script: '[redacted script, 7 chars]',
      headers: { 'Kanade-Sig': REDACTED },
    });
    for (let i = 0; i < 100; i += 1) workerRef.send({ type: 'creds.rotated' });
    expect(hub.events()).toHaveLength(10);
    expect(hub.stats().eventsOverwritten).toBeGreaterThan(90);
    expect(hub.events(hub.stats().lastSeq - 3)).toHaveLength(3);
    actor.stop();
    expect(hub.actors()).toEqual([]);
  });

  it('reports a child in backoff with the time left before its restart', () => {
    const backoffRoot = setup({}).createMachine({
      id: 'sup',
      context: {
        records: {
          heartbeat: { phase: 'backoff', restarts: 3, nextRestartAt: 10_000 + 6_000, lastExit: { reason: 'crashed', error: 'boom' } },
        },
      },
    });
    const hub = createInspectionHub({ now: () => 10_000 });
    const actor = createActor(backoffRoot, { inspect: hub.inspect }).start();
    expect(hub.actors()[0]?.supervision).toEqual({
      heartbeat: { phase: 'backoff', restarts: 3, nextRestartInMs: 6_000, lastExit: { reason: 'crashed', error: 'boom' } },
    });
    actor.stop();
  });

  it('never throws into xstate, whatever it is handed', () => {
    const hub = createInspectionHub();
    expect(() => hub.inspect({ type: '@xstate.snapshot', actorRef: null } as never)).not.toThrow();
  });
});
