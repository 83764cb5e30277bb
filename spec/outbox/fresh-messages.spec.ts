/**
 * Fresh messages (docs/outbox.md, "Fresh messages"): once a drain has caught up, a message this
 * process writes is published from memory at once, before the pass has counted or listed the
 * directory — and never a second time from what the listing read ahead.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { PublishFn } from '../../actors/outbox/publish-message.js';
import { createMessageSlots } from '../../actors/outbox/message-slots.js';
import { bindOutboxMessageEffects } from '../../machines/outbox-message-machine.js';
import { OutboxDrain, OUTBOX_LISTING_MAX_AGE_MS } from '../../actors/outbox/outbox-drain.js';
import { FreshFiles, OUTBOX_FRESH_MAX_FILE_BYTES, OUTBOX_FRESH_MAX_FILES } from '../../actors/outbox/fresh-files.js';
import { sampleResult, tempResultsOutbox, testLog, waitUntil } from './helpers.js';

const runnerFactory = createMessageSlots(bindOutboxMessageEffects);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const { outbox, files } = await tempResultsOutbox(cleanups);
  const clock = new SimulatedClock();
  // The drain's wall clock, which times the listing's maximum age.
  const wall = { now: Date.now() };
  const drain = new OutboxDrain(outbox.store, testLog, () => wall.now);
  const pass = (publish: PublishFn, window = 64, maxDeleting = 192) =>
    drain.runPass({ publish, runnerFactory, clock, window, maxDeleting, ackTimeoutMs: 30_000 });
  // Counts the passes that count (and so list) the directory.
  const counted = { passes: 0 };
  const countMessages = outbox.store.countMessages.bind(outbox.store);
  outbox.store.countMessages = () => {
    counted.passes += 1;
    return countMessages();
  };
  return { outbox, pass, files, wall, counted };
}

/** A publish whose PubAcks the test hands out, recording every subject it was asked to publish. */
function heldPublish() {
  const subjects: string[] = [];
  const acks: Array<() => void> = [];
  const publish: PublishFn = (subject) =>
    new Promise<void>((resolve) => {
      subjects.push(subject);
      acks.push(resolve);
    });
  return { publish, subjects, ackAll: () => acks.splice(0).forEach((ack) => ack()) };
}

describe('fresh messages', () => {
  it('are published before the directory is counted or listed once the drain has caught up', async () => {
    const { outbox, pass, files, wall } = await setup();
    await outbox.enqueue(sampleResult());
    // The first pass of a process lists (oldest first) and leaves nothing behind: caught up.
    expect((await pass(async () => undefined).done).delivered).toBe(1);
    // From now on the directory cannot be counted: only the fresh path can publish.
    outbox.store.countMessages = () => new Promise<number>(() => undefined);
    wall.now += OUTBOX_LISTING_MAX_AGE_MS; // and the pass would list
    const fresh = sampleResult();
    await outbox.enqueue(fresh);
    const { publish, subjects, ackAll } = heldPublish();
    const running = pass(publish);
    await waitUntil(() => subjects.length === 1, 10_000, 'the fresh message to be published');
    expect(subjects).toEqual([`results.${fresh.request_id}`]);
    ackAll();
    await waitUntil(async () => (await files()).length === 0, 10_000, 'the delivered file to be deleted');
    running.stop();
  });

  it('need no listing; one still runs on a wake-up without a write and once the last is 30 s old', async () => {
    const { outbox, pass, wall, counted } = await setup();
    await outbox.store.ensureDir();
    await pass(async () => undefined).done; // lists an empty directory: caught up
    expect(counted.passes).toBe(1);
    await outbox.enqueue(sampleResult());
    expect((await pass(async () => undefined).done).delivered).toBe(1);
    expect(counted.passes).toBe(1); // woken by its own write: published without a listing
    await pass(async () => undefined).done; // woken with nothing written (safety tick, reconnect)
    expect(counted.passes).toBe(2);
    wall.now += OUTBOX_LISTING_MAX_AGE_MS;
    await outbox.enqueue(sampleResult());
    expect((await pass(async () => undefined).done).delivered).toBe(1);
    expect(counted.passes).toBe(3); // the last listing is 30 s old: files from outside are found
  });

  it('are published while a pass runs, and never again from what its listing read ahead', async () => {
    const { outbox, pass, wall } = await setup();
    await outbox.store.ensureDir();
    await pass(async () => undefined).done; // an empty directory: caught up
    wall.now += OUTBOX_LISTING_MAX_AGE_MS; // so the next pass lists as well
    const reads: string[] = [];
    const readWithStat = outbox.store.readWithStat.bind(outbox.store);
    outbox.store.readWithStat = (name, maxBytes, kind) => {
      reads.push(name);
      return readWithStat(name, maxBytes, kind);
    };
    const { publish, subjects, ackAll } = heldPublish();
    const first = sampleResult();
    const second = sampleResult();
    await outbox.enqueue(first);
    await outbox.enqueue(second);
    // Window 1: the first message fills it, so the second waits as a hint while the listing reads
    // its file ahead; the hint is taken when the window frees, the read-ahead copy must not be —
    // also after the second is deleted and no longer busy (one delete at a time holds it back).
    const running = pass(publish, 1, 1);
    await waitUntil(() => reads.includes(`${second.result_id}.json`), 10_000, 'the listing to read the second file ahead');
    expect(subjects).toEqual([`results.${first.request_id}`]);
    ackAll();
    await waitUntil(() => subjects.length === 2, 10_000, 'the second message to be published');
    let summary: { delivered: number } | undefined;
    void running.done.then((s) => (summary = s));
    ackAll();
    // Either the pass ends, or the stale copy is published a second time (and never acked).
    await waitUntil(() => summary !== undefined || subjects.length > 2, 10_000, 'the pass to end');
    expect(subjects).toEqual([`results.${first.request_id}`, `results.${second.request_id}`]);
    expect(summary?.delivered).toBe(2);
    running.stop();
  });

  it('keep at most a bounded number of hints, dropping the oldest (their files stay listed)', () => {
    const fresh = new FreshFiles();
    for (let i = 0; i < OUTBOX_FRESH_MAX_FILES + 3; i += 1) fresh.remember(`m${i}.json`, Buffer.from('{}'), i);
    fresh.remember('big.json', Buffer.alloc(OUTBOX_FRESH_MAX_FILE_BYTES + 1), 0);
    expect(fresh.size).toBe(OUTBOX_FRESH_MAX_FILES);
    expect(fresh.dropped).toBe(4);
    expect(fresh.take(() => true)?.name).toBe('m3.json');
    expect(fresh.take((name) => name !== 'm4.json')?.name).toBe('m5.json');
    expect(fresh.size).toBe(OUTBOX_FRESH_MAX_FILES - 3);
  });
});
