/**
 * The root's side of self-update: a child spec's `input` mapper gets the services plus the root's
 * injected clock reading and random draw; a child's `exit` request (the updater after a swap) stops
 * the whole tree gracefully in reverse order, and the stop cause carries the exit code 64.
 */
import { describe, expect, it } from 'vitest';
import { createActor, sendParent, setup, SimulatedClock } from 'xstate';
import { PROCESS_EXIT_SELF_UPDATE } from '../../contract/index.js';
import type { ChildSpec } from '../../supervisor/child-spec.js';
import { rootMachine, type StopCause } from '../../supervisor/root-machine.js';
import { fakeServices, gracefulChild } from '../supervisor/fake-children.js';

const requester = setup({
  types: {
    input: {} as { now: number; random: number },
    context: {} as { got: { now: number; random: number } },
    events: {} as { type: 'shutdown' } | { type: 'go' },
  },
}).createMachine({
  id: 'requester',
  context: ({ input }) => ({ got: input }),
  initial: 'running',
  states: {
    running: {
      on: {
        go: { actions: sendParent({ type: 'exit', code: PROCESS_EXIT_SELF_UPDATE, child: 'requester', reason: 'swapped' }) },
        shutdown: 'done',
      },
    },
    done: { type: 'final' },
  },
});

describe('root supervisor: exit requested by a child', () => {
  it('maps the input with injected time and randomness, then stops every child and outputs the exit code', () => {
    const clock = new SimulatedClock();
    clock.set(5_000);
    const stopped: string[] = [];
    const children: ChildSpec[] = [
      { id: 'first', logic: gracefulChild, restart: 'permanent', shutdownMs: 1_000 },
      { id: 'requester', logic: requester, restart: 'transient', shutdownMs: 1_000, input: (_services, injected) => injected },
      { id: 'last', logic: gracefulChild, restart: 'permanent', shutdownMs: 1_000 },
    ];
    const root = createActor(rootMachine, {
      clock,
      input: { services: fakeServices(), children, now: () => clock.now(), random: () => 0.25 },
    });
    root.subscribe({ complete: () => stopped.push('root') });
    root.start();
    const child = (root.getSnapshot().children as Record<string, unknown>)['requester'] as {
      getSnapshot(): { context: { got: unknown } };
      send(e: { type: 'go' }): void;
    };
    expect(child.getSnapshot().context.got).toEqual({ now: 5_000, random: 0.25 });
    child.send({ type: 'go' });
    expect(root.getSnapshot().status).toBe('done');
    expect(root.getSnapshot().output as StopCause).toEqual({
      kind: 'exit_requested',
      child: 'requester',
      reason: 'swapped',
      exit_code: PROCESS_EXIT_SELF_UPDATE,
    });
    expect(Object.values(root.getSnapshot().context.records).map((r) => r.phase)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(stopped).toEqual(['root']);
  });
});
