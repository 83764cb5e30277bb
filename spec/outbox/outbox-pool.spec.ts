/**
 * The drain pool (actors/outbox/outbox-drain.ts) and the store on a real file system with a fake
 * publish and a SimulatedClock: backoff 1, 2, 4 … s per file, quarantine after 10 failures in a
 * row, the publish window bound, oldest first, and durable enqueue errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { pino } from 'pino';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { NoRespondersError, RequestError } from '@nats-io/transport-node';
import { OUTBOX_BACKOFF_CAP_MS, OUTBOX_QUARANTINE_AFTER_FAILURES } from '../../contract/index.js';
import { createOutbox } from '../../actors/outbox/create-outboxes.js';
import { outboxBackoffMs } from '../../domain/outbox-backoff.js';
import type { PublishFn } from '../../actors/outbox/publish-message.js';
import { OutboxWriteError } from '../../actors/outbox/outbox-store.js';
import { OutboxDrain } from '../../actors/outbox/outbox-drain.js';
import { createMessageSlots } from '../../actors/outbox/message-slots.js';
import { bindOutboxMessageEffects } from '../../machines/outbox-message-machine.js';

const createOutboxMessageRunner = createMessageSlots(bindOutboxMessageEffects);
import { sampleResult, tempDataDir, tempResultsOutbox, testLog, waitUntil } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const { dir, outbox, files } = await tempResultsOutbox(cleanups);
  const clock = new SimulatedClock();
  const run = (publish: PublishFn, window = 64) =>
    outbox.drain.runPass({ publish, runnerFactory: createOutboxMessageRunner, clock, window, ackTimeoutMs: 30_000 }).done;
  return { dir, outbox, clock, run, files };
}

describe('outbox drain pool', () => {
  it('backs a failing file off 1, 2, 4, 8 s (checked before reading) and never blocks the others', async () => {
    const { outbox, clock, run, files } = await setup();
    const bad = sampleResult();
    await outbox.enqueue(bad);
    const good = [sampleResult(), sampleResult()];
    for (const r of good) await outbox.enqueue(r);
    let badAttempts = 0;
    const publish: PublishFn = async (subject) => {
      if (subject === `results.${bad.request_id}`) {
        badAttempts += 1;
        throw new Error('no responders');
      }
    };
    const first = await run(publish);
    expect(first.delivered).toBe(2);
    expect(await files()).toEqual([`${bad.result_id}.json`]);
    expect(badAttempts).toBe(1);
    for (const [failures, wait] of [
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 8_000],
    ] as const) {
      expect(outboxBackoffMs(failures)).toBe(wait);
      clock.increment(wait - 1);
      const early = await run(publish);
      expect(early.notDue).toBe(1);
      expect(badAttempts).toBe(failures);
      clock.increment(1);
      await run(publish);
      expect(badAttempts).toBe(failures + 1);
    }
    expect(outbox.drain.failuresOf(`${bad.result_id}.json`)).toBe(5);
    expect(outboxBackoffMs(9)).toBe(256_000);
    expect(outboxBackoffMs(10)).toBe(300_000);
    expect(outboxBackoffMs(50)).toBe(300_000);
  });

  it('a reconnect makes parked files due at once, keeping their failure counts (§4 "woken on reconnect")', async () => {
    const { outbox, run } = await setup();
    const bad = sampleResult();
    await outbox.enqueue(bad);
    let attempts = 0;
    const failing: PublishFn = async () => {
      attempts += 1;
      throw new Error('publish rejected');
    };
    await run(failing);
    await run(failing);
    expect(attempts).toBe(1); // parked for 1 s
    outbox.drain.wakeParked();
    const pass = await run(async () => undefined);
    expect(pass.delivered).toBe(1);
  });

  it('times out a PubAck exactly at the bound on the pass clock, while the others are acked', async () => {
    const { outbox, clock, files } = await setup();
    const stalled = sampleResult();
    await outbox.enqueue(stalled);
    const others = [sampleResult(), sampleResult()];
    for (const r of others) await outbox.enqueue(r);
    const ACK_MS = 5_000;
    const publish: PublishFn = (subject) =>
      subject === `results.${stalled.request_id}` ? new Promise<void>(() => undefined) : Promise.resolve();
    let settled = false;
    const done = outbox.drain.runPass({ publish, runnerFactory: createOutboxMessageRunner, clock, ackTimeoutMs: ACK_MS }).done.then((s) => {
      settled = true;
      return s;
    });
    await waitUntil(async () => (await files()).length === 1, 5_000, 'others delivered');
    clock.increment(ACK_MS - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(outbox.drain.failuresOf(`${stalled.result_id}.json`)).toBe(0);
    clock.increment(1);
    const summary = await done;
    expect(summary.delivered).toBe(2);
    expect(outbox.drain.failuresOf(`${stalled.result_id}.json`)).toBe(1);
    expect(outbox.drain.status().last_error).toMatch(/no PubAck within 5000 ms/);
    expect(await files()).toEqual([`${stalled.result_id}.json`]);
  });

  it('measures status ages on the injected wall clock (issue #16: no Date.now() in status)', async () => {
    const { outbox, clock, dir } = await setup();
    const r = sampleResult();
    await outbox.enqueue(r);
    const mtimeS = 1_700_000_000;
    await utimes(path.join(dir, `${r.result_id}.json`), mtimeS, mtimeS);
    let wall = mtimeS * 1000 + 12_345;
    const drain = new OutboxDrain(outbox.store, testLog, () => wall);
    const summary = await drain.runPass({
      publish: async () => Promise.reject(new Error('boom')),
      runnerFactory: createOutboxMessageRunner,
      clock,
    }).done;
    expect(summary.delivered).toBe(0);
    expect(drain.status()).toMatchObject({
      depth: 1,
      oldest_age_ms: 12_345,
      oldest_due_age_ms: null,
      stalled_ms: 0,
      last_error: `${r.result_id}.json: boom`,
    });
    wall += 1_000;
    expect(drain.status().oldest_age_ms).toBe(13_345);
  });

  it('logs failures at debug until the 5th, then warns', async () => {
    const data = await tempDataDir();
    cleanups.push(data.cleanup);
    const lines: Array<{ level: number; msg: string; failures?: number }> = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const outbox = createOutbox('results', path.join(data.dir, 'outbox'), log);
    await outbox.enqueue(sampleResult());
    const clock = new SimulatedClock();
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      await outbox.drain.runPass({
        publish: async () => Promise.reject(new Error('no responders')),
        runnerFactory: createOutboxMessageRunner,
        clock,
      }).done;
      clock.increment(outboxBackoffMs(attempt));
    }
    const failures = lines.filter((l) => l.failures !== undefined);
    expect(failures.map((l) => [l.failures, l.level])).toEqual([
      [1, 20],
      [2, 20],
      [3, 20],
      [4, 20],
      [5, 40],
    ]);
    expect(failures.at(-1)!.msg).toBe('outbox message keeps failing');
  });

  it('a missing stream (NoRespondersError) backs off to the 300 s cap, is never quarantined, and warns once', async () => {
    const data = await tempDataDir();
    cleanups.push(data.cleanup);
    const lines: Array<{ level: number; msg: string; waits?: number; retry_in_ms?: number }> = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const dir = path.join(data.dir, 'outbox');
    const outbox = createOutbox('results', dir, log);
    const r = sampleResult();
    await outbox.enqueue(r);
    const clock = new SimulatedClock();
    const publish: PublishFn = async (subject) => {
      throw new RequestError('no responders', { cause: new NoRespondersError(subject) });
    };
    for (let attempt = 1; attempt <= 15; attempt += 1) {
      await outbox.drain.runPass({ publish, runnerFactory: createOutboxMessageRunner, clock }).done;
      clock.increment(OUTBOX_BACKOFF_CAP_MS);
    }
    const name = `${r.result_id}.json`;
    expect(outbox.drain.waitsOf(name)).toBe(15);
    expect(outbox.drain.failuresOf(name)).toBe(0);
    expect((await readdir(dir)).filter((n) => n.endsWith('.json'))).toEqual([name]);
    expect(await outbox.store.stuck.list()).toEqual([]);
    const parked = lines.filter((l) => l.waits !== undefined);
    expect(parked.filter((l) => l.level === 40)).toHaveLength(1);
    expect(parked.at(-1)!.retry_in_ms).toBe(OUTBOX_BACKOFF_CAP_MS);
  });

  it('quarantines after 10 consecutive failures with the last error in the reason; never deletes', async () => {
    const { outbox, clock, run, files, dir } = await setup();
    const bad = sampleResult();
    await outbox.enqueue(bad);
    const publish: PublishFn = async () => {
      throw new Error('publish rejected');
    };
    for (let attempt = 1; attempt <= OUTBOX_QUARANTINE_AFTER_FAILURES; attempt += 1) {
      await run(publish);
      clock.increment(outboxBackoffMs(attempt));
    }
    await waitUntil(async () => (await files()).length === 0, 5_000, 'file moved to stuck/');
    const stuck = await outbox.store.stuck.list();
    expect(stuck.map((s) => s.name)).toEqual([`${bad.result_id}.json`]);
    expect(stuck[0]!.reason).toMatch(/failed 10 times in a row; last error: publish rejected/);
    expect(JSON.parse(await readFile(path.join(dir, 'stuck', `${bad.result_id}.json`), 'utf8'))).toMatchObject({
      result_id: bad.result_id,
    });
    expect(outbox.drain.status().stuck).toBe(1);
  });

  it('keeps at most `window` messages awaiting their PubAck, oldest first', async () => {
    const { outbox, dir } = await setup();
    const results = Array.from({ length: 10 }, () => sampleResult());
    for (const [i, r] of results.entries()) {
      await outbox.enqueue(r);
      // mtimes in reverse order of names' creation: oldest is the last written.
      await utimes(path.join(dir, `${r.result_id}.json`), 1_000 - i, 1_000 - i);
    }
    const started: string[] = [];
    let maxInFlight = 0;
    let inFlight = 0;
    // Each fake PubAck takes a few ms, so several publishes overlap.
    const publish: PublishFn = async () => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
    };
    const runnerFactory: typeof createOutboxMessageRunner = (effects, options) => {
      const runner = createOutboxMessageRunner(effects, options);
      return { start: (name, prior) => (started.push(name), runner.start(name, prior)) };
    };
    const summary = await outbox.drain.runPass({ publish, runnerFactory, window: 3 }).done;
    expect(summary.delivered).toBe(10);
    expect(maxInFlight).toBe(3);
    expect(started).toEqual([...results].reverse().map((r) => `${r.result_id}.json`));
  });

  it('takes over files written by the Rust agent (<request_id>.json) and publishes their bytes as they are', async () => {
    const { run, dir, files } = await setup();
    await mkdir(dir, { recursive: true });
    const rust = { ...sampleResult(), parent_result_id: null, collect_object: null };
    const text = JSON.stringify(rust, null, 2);
    await writeFile(path.join(dir, `${rust.request_id}.json`), text);
    const seen: Array<{ subject: string; body: string }> = [];
    await run(async (subject, payload) => {
      seen.push({ subject, body: Buffer.from(payload).toString('utf8') });
    });
    expect(seen).toEqual([{ subject: `results.${rust.request_id}`, body: text }]);
    expect(await files()).toEqual([]);
  });

  it('entries that are not regular files are quarantined unopened with their kind; the real messages are delivered (#17.3)', async () => {
    const { dir, outbox, run, files } = await setup();
    const good = [sampleResult(), sampleResult()];
    for (const r of good) await outbox.enqueue(r);
    execFileSync('mkfifo', ['-m', '600', path.join(dir, 'a-fifo.json')]);
    await symlink(path.join(dir, `${good[0]!.result_id}.json`), path.join(dir, 'a-link.json'));
    await symlink('/dev/zero', path.join(dir, 'a-device-link.json'));
    await mkdir(path.join(dir, 'a-dir.json'));
    const socketServer = net.createServer();
    await new Promise<void>((resolve) => socketServer.listen(path.join(dir, 'a-socket.json'), resolve));
    cleanups.push(() => new Promise((resolve) => socketServer.close(() => resolve())));
    const published: string[] = [];
    const summary = await run(async (subject) => {
      published.push(subject);
    });
    expect(summary.delivered).toBe(2);
    expect(published.sort()).toEqual(good.map((r) => `results.${r.request_id}`).sort());
    // Quarantine renames finish after the pass settles.
    await waitUntil(async () => (await files()).length === 0, 5_000, 'five quarantines');
    const stuck = new Map((await outbox.store.stuck.list()).map((f) => [f.name, f.reason]));
    expect(stuck.get('a-fifo.json')).toMatch(/a FIFO \(named pipe\), not a regular file \(never opened\)$/);
    expect(stuck.get('a-link.json')).toMatch(/a symbolic link, not a regular file \(never followed\)$/);
    expect(stuck.get('a-device-link.json')).toMatch(/a symbolic link/);
    expect(stuck.get('a-dir.json')).toMatch(/a directory, not a message file$/);
    expect(stuck.get('a-socket.json')).toMatch(/a socket, not a regular file \(never opened\)$/);
    expect(outbox.drain.status()).toMatchObject({ stuck: 5, stalled_ms: 0, oldest_due_age_ms: null });
  });

  it('readWithStat refuses a FIFO swapped in after the listing said "file" (O_NONBLOCK + fstat), and read() refuses one too', async () => {
    const { dir, outbox } = await setup();
    await outbox.store.ensureDir();
    execFileSync('mkfifo', ['-m', '600', path.join(dir, 'late.json')]);
    const got = await outbox.store.readWithStat('late.json', 1024, 'file');
    expect(got).toMatchObject({ errorCode: 'ENOTREG', kind: 'fifo', bytes: undefined });
    await expect(outbox.store.read('late.json')).rejects.toMatchObject({ code: 'ENOTREG', kind: 'fifo' });
  });

  it('a pass over a vanished directory fails, and ensureDir creates it again', async () => {
    const { outbox, run, dir } = await setup();
    await outbox.enqueue(sampleResult());
    await rm(dir, { recursive: true });
    await expect(run(async () => undefined)).rejects.toThrow(/ENOENT/);
    await outbox.store.ensureDir();
    expect(await readdir(dir)).toEqual([]);
    expect((await run(async () => undefined)).listed).toBe(0);
  });

  it('ignores tmp files (an enqueue that never finished is not a message) and clears old ones', async () => {
    const { run, dir, outbox } = await setup();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'half.json.tmp'), '{"result_id":');
    const summary = await run(async () => undefined);
    expect(summary.listed).toBe(0);
    expect(await readdir(dir)).toEqual(['half.json.tmp']);
    // Young: maybe an enqueue in progress. Old: a crash leftover, removed.
    expect(await outbox.store.removeStaleTmp(60_000)).toBe(0);
    await utimes(path.join(dir, 'half.json.tmp'), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    expect(await outbox.store.removeStaleTmp(60_000)).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('outbox store', () => {
  it('enqueue writes the wire form durably and leaves no tmp file', async () => {
    const { outbox, dir } = await setup();
    const r = sampleResult();
    await outbox.enqueue(r);
    expect(await readdir(dir)).toEqual([`${r.result_id}.json`]);
    expect(JSON.parse(await readFile(path.join(dir, `${r.result_id}.json`), 'utf8'))).toEqual(r);
  });

  it('rejects with a clear error on a full disk, keeps nothing half-written, and reports degraded health', async () => {
    const { outbox, dir } = await setup();
    await mkdir(dir, { recursive: true });
    const r = sampleResult();
    // The tmp path points at /dev/full, whose writes fail with ENOSPC like a full disk.
    await symlink('/dev/full', path.join(dir, `${r.result_id}.json.tmp`));
    const health: string[] = [];
    outbox.store.onHealth((e) => health.push(e.type));
    const err = await outbox.enqueue(r).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OutboxWriteError);
    expect((err as OutboxWriteError).code).toBe('ENOSPC');
    expect((err as Error).message).toMatch(/disk full/);
    expect(await readdir(dir)).toEqual([]);
    expect(health).toEqual(['enqueue.failed']);
    await outbox.enqueue(r);
    expect(health).toEqual(['enqueue.failed', 'enqueue.succeeded']);
  });

  it('rejects when the directory cannot be created (a file where the directory should be)', async () => {
    const data = await tempDataDir();
    cleanups.push(data.cleanup);
    await writeFile(path.join(data.dir, 'blocker'), 'x');
    const outbox = createOutbox('results', path.join(data.dir, 'blocker', 'outbox'), testLog);
    const err = await outbox.enqueue(sampleResult()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OutboxWriteError);
    expect((err as OutboxWriteError).code).toBe('ENOTDIR');
  });

  it('retryStuck moves a quarantined file back under a free name and drops its reason', async () => {
    const { outbox, dir, files } = await setup();
    const r = sampleResult();
    await outbox.enqueue(r);
    const name = `${r.result_id}.json`;
    expect(await outbox.store.stuck.quarantine(name, 'test reason')).toBe(name);
    await outbox.enqueue(r); // the same id is back in the outbox meanwhile
    expect(await outbox.store.stuck.quarantine(name, 'second')).toBe(`${name}.1`);
    expect((await outbox.store.stuck.list()).map((s) => s.reason.replace(/^\S+ /, ''))).toEqual(['test reason', 'second']);
    expect(await outbox.store.stuck.retry(`${name}.1`)).toBe(name);
    await outbox.enqueue(r);
    expect(await outbox.store.stuck.retry(name)).toBe(`${r.result_id}.retry-1.json`);
    expect(await files()).toEqual([name, `${r.result_id}.retry-1.json`].sort());
    expect(await readdir(path.join(dir, 'stuck'))).toEqual([]);
  });
});
