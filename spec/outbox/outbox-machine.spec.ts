/**
 * The drain loop of an outbox child (machines/outbox-machine.ts) on a SimulatedClock, with
 * `.provide()` fakes for directory creation and the drain pass (the store watcher is the real one,
 * as supervisor/children.ts provides it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { OUTBOX_TICK_MS, PUB_ACK_TIMEOUT_MS } from '../../contract/index.js';
import { createOutboxLogic } from '../../supervisor/children.js';
import { outboxOf } from '../../actors/outbox/outbox-actors.js';
import { flushGraceMs, OUTBOX_EMPTY_RESCAN_TICKS, OUTBOX_SHUTDOWN_GRACE_MS, OUTBOX_STOP_MARGIN_MS } from '../../machines/outbox-machine.js';
import { outboxServices, sampleResult, tempDataDir } from './helpers.js';
import { pollUntil } from '../harness/poll.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentServices } from '../../actors/ports.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A controllable world: directory creation, passes and what they were told. */
async function harness(opts: { dirFails?: number; connected?: boolean } = {}) {
  const data = await tempDataDir();
  cleanups.push(data.cleanup);
  const { services, hub, outboxes } = outboxServices(data.dir);
  if (opts.connected ?? true) hub.connected({} as NatsConnection, 'nats://fake', 0);
  let dirFailuresLeft = opts.dirFails ?? 0;
  const log = { dirAttempts: 0, passes: 0, finishRequests: 0 };
  let passSendBack: ((event: EventObject & Record<string, unknown>) => void) | undefined;
  const drainStatus = () => outboxOf({ services, kind: 'results' }).drain.status();
  const machine = createOutboxLogic('results').provide({
    actors: {
      ensureOutboxDir: fromPromise(async () => {
        log.dirAttempts += 1;
        if (dirFailuresLeft > 0) {
          dirFailuresLeft -= 1;
          throw new Error('EACCES: permission denied');
        }
        return drainStatus();
      }),
      drainBacklog: fromCallback(({ sendBack, receive }) => {
        log.passes += 1;
        passSendBack = sendBack;
        receive((event) => {
          if (event.type === 'drain.finish') log.finishRequests += 1;
        });
      }),
    },
  });
  const clock = new SimulatedClock();
  const child = createActor(machine, { input: services, clock }).start();
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  // A pass reports the drain's status as it ends (what a real pass does).
  const finishPass = () =>
    passSendBack?.({
      type: 'drain.finished',
      summary: { listed: 0, delivered: 0, quarantined: 0, notDue: 0, stopped: false },
      status: drainStatus(),
    });
  const drainState = () => (child.getSnapshot().value as { running?: { drain?: unknown } }).running?.drain;
  const sendProgress = (status: Record<string, unknown>) => passSendBack?.({ type: 'outbox.progress', status });
  return { child, clock, hub, outboxes, log, flush, finishPass, drainState, sendProgress, drainStatus };
}

describe('outbox child machine', () => {
  it('preparing → draining when connected; draining → idle when the pass ends; an empty outbox is walked every 30 s', async () => {
    const h = await harness();
    await h.flush();
    expect(h.drainState()).toEqual({ draining: 'walking' });
    expect(h.child.getSnapshot().hasTag('busy')).toBe(true);
    h.finishPass();
    expect(h.drainState()).toBe('idle');
    for (let tick = 1; tick < OUTBOX_EMPTY_RESCAN_TICKS; tick += 1) h.clock.increment(OUTBOX_TICK_MS);
    expect(h.drainState()).toBe('idle');
    expect(h.log.passes).toBe(1);
    h.clock.increment(OUTBOX_TICK_MS);
    expect(h.drainState()).toEqual({ draining: 'walking' });
    expect(h.log.passes).toBe(2);
  });

  it('idle → draining on the next 1 s tick while files remain on disk', async () => {
    const h = await harness();
    await h.flush();
    await h.outboxes.results.enqueue(sampleResult());
    h.finishPass(); // the enqueue asked for a rescan
    expect(h.drainState()).toEqual({ draining: 'walking' });
    h.finishPass(); // the fake delivers nothing: the file remains
    expect(h.drainState()).toBe('idle');
    expect(h.child.getSnapshot().context.status.depth).toBeGreaterThan(0);
    h.clock.increment(OUTBOX_TICK_MS - 1);
    expect(h.drainState()).toBe('idle');
    h.clock.increment(1);
    expect(h.drainState()).toEqual({ draining: 'walking' });
    expect(h.log.passes).toBe(3);
  });

  it('idle → draining at once on result.enqueued (no waiting for the tick)', async () => {
    const h = await harness();
    await h.flush();
    h.finishPass();
    h.child.send({ type: 'result.enqueued' });
    expect(h.drainState()).toEqual({ draining: 'walking' });
    expect(h.log.passes).toBe(2);
  });

  it('an enqueue during a pass starts another pass as soon as it ends', async () => {
    const h = await harness();
    await h.flush();
    h.child.send({ type: 'result.enqueued' });
    expect(h.log.passes).toBe(1);
    h.finishPass();
    expect(h.drainState()).toEqual({ draining: 'walking' });
    expect(h.log.passes).toBe(2);
    h.finishPass();
    expect(h.drainState()).toBe('idle');
  });

  it('preparing → paused while disconnected; paused → draining on broker.connected; draining → paused on broker.disconnected', async () => {
    const h = await harness({ connected: false });
    await h.flush();
    expect(h.drainState()).toBe('paused');
    h.clock.increment(OUTBOX_TICK_MS * 5);
    expect(h.log.passes).toBe(0);
    h.child.send({ type: 'result.enqueued' });
    expect(h.drainState()).toBe('paused');
    h.hub.connected({} as NatsConnection, 'nats://fake', 1);
    expect(h.drainState()).toEqual({ draining: 'walking' });
    h.hub.disconnected(2, true);
    expect(h.drainState()).toBe('paused');
    h.finishPass(); // a pass stopped by the pause reports nothing any more
    expect(h.drainState()).toBe('paused');
  });

  it('a reconnect makes parked files due (§4 "woken on reconnect") before the child resumes draining', async () => {
    const h = await harness({ connected: false });
    await h.flush();
    const drain = h.outboxes.results.drain;
    const wakeParked = drain.wakeParked.bind(drain);
    const statesAtWake: unknown[] = [];
    drain.wakeParked = () => {
      statesAtWake.push(h.drainState());
      wakeParked();
    };
    h.hub.connected({} as NatsConnection, 'nats://fake', 1);
    expect(statesAtWake).toEqual(['paused']);
    expect(h.drainState()).toEqual({ draining: 'walking' });
    h.hub.disconnected(2, true);
    expect(statesAtWake).toHaveLength(1);
  });

  it('idle → paused on broker.disconnected', async () => {
    const h = await harness();
    await h.flush();
    h.finishPass();
    h.hub.disconnected(5, true);
    expect(h.drainState()).toBe('paused');
  });

  it('a directory that cannot be created is retried every tick (degraded meanwhile), never fatal', async () => {
    const h = await harness({ dirFails: 2 });
    await h.flush();
    expect(h.drainState()).toBe('dirUnavailable');
    expect(h.child.getSnapshot().hasTag('degraded')).toBe(true);
    expect(h.child.getSnapshot().context.status.last_error).toMatch(/EACCES/);
    h.clock.increment(OUTBOX_TICK_MS);
    await h.flush();
    expect(h.drainState()).toBe('dirUnavailable');
    h.clock.increment(OUTBOX_TICK_MS);
    await h.flush();
    expect(h.drainState()).toEqual({ draining: 'walking' });
    expect(h.log.dirAttempts).toBe(3);
    expect(h.child.getSnapshot().status).toBe('active');
  });

  it('a pass that cannot list the directory goes back to preparing via dirUnavailable', async () => {
    const h = await harness();
    await h.flush();
    h.child.send({ type: 'drain.failed', error: 'ENOENT: no such file or directory' });
    expect(h.drainState()).toBe('dirUnavailable');
    h.clock.increment(OUTBOX_TICK_MS);
    await h.flush();
    expect(h.drainState()).toEqual({ draining: 'walking' });
  });

  it('enqueue failures put the degraded tag and the error in status until an enqueue succeeds', async () => {
    const h = await harness();
    await h.flush();
    expect(h.child.getSnapshot().hasTag('healthy')).toBe(true);
    h.child.send({ type: 'enqueue.failed', error: 'outbox /x: cannot write a.json: disk full (ENOSPC)' });
    expect(h.child.getSnapshot().hasTag('degraded')).toBe(true);
    expect(h.child.getSnapshot().context.status.enqueue_error).toMatch(/disk full/);
    h.child.send({ type: 'enqueue.succeeded' });
    expect(h.child.getSnapshot().hasTag('healthy')).toBe(true);
    expect(h.child.getSnapshot().context.status.enqueue_error).toBeNull();
  });

  it('shutdown while draining keeps the pass going; an enqueue meanwhile gets another pass; stops when a pass finds nothing new (§8.4)', async () => {
    const h = await harness();
    await h.flush();
    h.child.send({ type: 'shutdown', graceMs: 8_000 });
    expect(h.drainState()).toEqual({ draining: 'flushing' });
    expect(h.log.passes).toBe(1);
    // The executor's `killed: agent shutting down` results arrive while the pass runs.
    h.child.send({ type: 'result.enqueued' });
    h.finishPass();
    expect(h.child.getSnapshot().status).toBe('active');
    expect(h.drainState()).toEqual({ draining: 'flushing' });
    expect(h.log.passes).toBe(2);
    h.finishPass();
    expect(h.child.getSnapshot().status).toBe('done');
  });

  it('the shutdown flush ends at the supervisor grace minus the margin even if acks never come', async () => {
    const h = await harness();
    await h.flush();
    h.child.send({ type: 'shutdown', graceMs: 5_000 });
    h.clock.increment(flushGraceMs(5_000) - 1);
    expect(h.child.getSnapshot().status).toBe('active');
    h.clock.increment(1);
    expect(h.child.getSnapshot().status).toBe('done');
    expect(flushGraceMs(5_000)).toBe(5_000 - OUTBOX_STOP_MARGIN_MS);
    expect(flushGraceMs(undefined)).toBe(OUTBOX_SHUTDOWN_GRACE_MS);
  });

  it('a broker disconnect during the shutdown flush stops at once (the files wait on disk)', async () => {
    const h = await harness();
    await h.flush();
    h.child.send({ type: 'shutdown', graceMs: 8_000 });
    h.child.send({ type: 'broker.disconnected' });
    expect(h.child.getSnapshot().status).toBe('done');
  });

  it('a pass that settles nothing for twice the ack timeout turns the child degraded until it moves again', async () => {
    const h = await harness();
    await h.flush();
    const status = (stalled_ms: number) => ({
      depth: 3,
      in_flight: 0,
      stuck: 0,
      oldest_age_ms: 1,
      oldest_due_age_ms: stalled_ms,
      stalled_ms,
      last_ack_latency_ms: null,
      last_error: null,
    });
    h.sendProgress(status(2 * PUB_ACK_TIMEOUT_MS - 1));
    expect(h.child.getSnapshot().hasTag('degraded')).toBe(false);
    h.sendProgress(status(2 * PUB_ACK_TIMEOUT_MS));
    expect(h.child.getSnapshot().hasTag('degraded')).toBe(true);
    expect(h.child.getSnapshot().context.status).toMatchObject({
      stalled_ms: 2 * PUB_ACK_TIMEOUT_MS,
      oldest_due_age_ms: 2 * PUB_ACK_TIMEOUT_MS,
    });
    h.sendProgress(status(0));
    expect(h.child.getSnapshot().hasTag('degraded')).toBe(false);
  });

  it('shutdown from idle, paused or dirUnavailable stops at once', async () => {
    const idle = await harness();
    await idle.flush();
    idle.finishPass();
    idle.child.send({ type: 'shutdown' });
    expect(idle.child.getSnapshot().status).toBe('done');

    const paused = await harness({ connected: false });
    await paused.flush();
    paused.child.send({ type: 'shutdown' });
    expect(paused.child.getSnapshot().status).toBe('done');

    const noDir = await harness({ dirFails: 5 });
    await noDir.flush();
    noDir.child.send({ type: 'shutdown' });
    expect(noDir.child.getSnapshot().status).toBe('done');
  });

  it('progress from the pass lands in context.status', async () => {
    const h = await harness();
    await h.flush();
    h.child.send({
      type: 'outbox.progress',
      status: {
        depth: 7,
        in_flight: 3,
        stuck: 1,
        oldest_age_ms: 50,
        oldest_due_age_ms: 40,
        stalled_ms: 0,
        last_ack_latency_ms: 2,
        last_error: null,
      },
    });
    expect(h.child.getSnapshot().context.status).toMatchObject({ depth: 7, in_flight: 3, stuck: 1, last_ack_latency_ms: 2 });
  });

  it('the real ensureOutboxDir: a directory that cannot be created is logged with its path, and the child retries (not a crash)', async () => {
    const data = await tempDataDir();
    cleanups.push(data.cleanup);
    const { services } = outboxServices(data.dir);
    // A regular file where the outbox directory should be: mkdir fails.
    await writeFile(path.join(data.dir, 'outbox'), 'not a directory');
    const warnings: Array<{ fields: Record<string, unknown>; msg: string }> = [];
    const log = { ...services.log, warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ fields, msg }) };
    const machine = createOutboxLogic('results').provide({ actors: { drainBacklog: fromCallback(() => undefined) } });
    const clock = new SimulatedClock();
    const child = createActor(machine, { input: { ...services, log } as unknown as AgentServices, clock }).start();
    await pollUntil('the dir-unavailable warning', 10_000, () => warnings.length > 0);
    const drain = (child.getSnapshot().value as { running?: { drain?: unknown } }).running?.drain;
    expect(drain).toBe('dirUnavailable');
    expect(warnings[0]).toMatchObject({
      msg: 'outbox directory unavailable; retrying every tick',
      fields: { outbox: 'results', dir: path.join(data.dir, 'outbox') },
    });
    expect(String(warnings[0]?.fields.err)).toMatch(/EEXIST|ENOTDIR/);
    expect(child.getSnapshot().context.status.last_error).toMatch(/EEXIST|ENOTDIR/);
    child.stop();
  });
});
