import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock, type EventObject } from 'xstate';
import type { NatsConnectionEvent } from '../../actors/nats-connection.js';
import { connectionMachine, CONNECTION_DRAIN_TIMEOUT_MS } from '../../machines/connection-machine.js';
import { fakeServices } from './fake-children.js';

/** A fake natsConnection: the test drives it through `emit`; it records what it received. */
function fakeConnection(opts: { answerDrain: boolean }) {
  const received: string[] = [];
  let emit: (event: EventObject) => void = () => undefined;
  const logic = fromCallback(({ sendBack, receive }) => {
    emit = sendBack;
    receive((event) => {
      received.push(event.type);
      if (event.type === 'drain' && opts.answerDrain) sendBack({ type: 'connection.closed' });
    });
  });
  return { logic, received, emit: (event: NatsConnectionEvent) => emit(event) };
}

function start(answerDrain = true) {
  const fake = fakeConnection({ answerDrain });
  const clock = new SimulatedClock();
  const actor = createActor(connectionMachine.provide({ actors: { natsConnection: fake.logic as never } }), {
    input: fakeServices(),
    clock,
  });
  const errors: unknown[] = [];
  actor.subscribe({ error: (e) => errors.push(e) });
  actor.start();
  return { actor, fake, clock, errors };
}

describe('connection machine', () => {
  it('connecting → connected ⇄ reconnecting, with tags and a status summary', () => {
    const { actor, fake } = start();
    expect(actor.getSnapshot().value).toEqual({ live: 'connecting' });
    expect(actor.getSnapshot().hasTag('degraded')).toBe(true);
    fake.emit({ type: 'connection.connected', server: '127.0.0.1:4222', since: Date.parse('2026-01-01T00:00:00Z') });
    fake.emit({ type: 'connection.rttMeasured', ms: 3 });
    expect(actor.getSnapshot().value).toEqual({ live: 'connected' });
    expect(actor.getSnapshot().hasTag('healthy')).toBe(true);
    expect(actor.getSnapshot().context.status).toEqual({
      server: '127.0.0.1:4222',
      connected_since: '2026-01-01T00:00:00.000Z',
      rtt_ms: 3,
      reconnects: 0,
      auth_refused_since: null,
      last_error: null,
      last_error_at: null,
    });
    fake.emit({ type: 'connection.disconnected', since: 0 });
    expect(actor.getSnapshot().value).toEqual({ live: 'reconnecting' });
    expect(actor.getSnapshot().context.status).toMatchObject({ connected_since: null, rtt_ms: null });
    fake.emit({ type: 'connection.connected', server: '127.0.0.1:4223', since: 0 });
    expect(actor.getSnapshot().context.status).toMatchObject({ server: '127.0.0.1:4223', reconnects: 1 });
  });

  it('shutdown drains the connection and reaches its final state', () => {
    const { actor, fake } = start();
    fake.emit({ type: 'connection.connected', server: 's', since: 0 });
    actor.send({ type: 'shutdown' });
    expect(fake.received).toEqual(['drain']);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('shutdown still ends when drain never answers (after the drain timeout)', () => {
    const { actor, clock } = start(false);
    actor.send({ type: 'shutdown' });
    expect(actor.getSnapshot().value).toEqual({ live: 'draining' });
    clock.increment(CONNECTION_DRAIN_TIMEOUT_MS);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('a crash report from the actor becomes a crash of the child (the supervisor restarts it)', () => {
    const { fake, errors } = start();
    fake.emit({ type: 'connection.crashed', error: new Error('failpoint connection.connect triggered') });
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('failpoint connection.connect triggered');
  });

  it('credentials refused for too long escalate (EscalationError: the process exits 1)', () => {
    const { fake, errors, actor } = start();
    fake.emit({ type: 'connection.authRefused', choice: 'user', since: Date.parse('2026-01-01T00:00:00Z') });
    expect(actor.getSnapshot().context.status.auth_refused_since).toBe('2026-01-01T00:00:00.000Z');
    fake.emit({ type: 'connection.authGaveUp', error: 'authorization refused for 30000 ms (user, token)' });
    expect(errors[0]).toMatchObject({ name: 'EscalationError', escalate: true });
  });
});
