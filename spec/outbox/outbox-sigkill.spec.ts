/**
 * SIGKILL at random moments while 2,000 results drain (issue #3): a thin agent process running the
 * compiled outbox child is killed five times mid-drain and restarted; afterwards every result_id
 * is in RESULTS and every copy is byte-identical. Duplicates are expected (a file acked but not yet
 * deleted when the process died is sent again; contract §1 de-duplicates by result_id) and counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STREAM_RESULTS } from '../../contract/index.js';
import { createOutbox } from '../../actors/outbox/create-outboxes.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { readStream, sampleResult, tallyResults, tempDataDir, testLog, waitUntil } from './helpers.js';

const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'drain-entry.mjs');
const FILES = 2_000;
const ROUNDS = 5;
/** A small window slows the drain so that every kill lands mid-drain. */
const WINDOW = '4';

let broker: Broker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

function startAgent(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ENTRY, broker.url, dataDir, WINDOW], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', () => resolve(child));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('outbox under SIGKILL', () => {
  it('loses nothing across five SIGKILLs at random moments during a 2,000-result drain', async () => {
    const data = await tempDataDir();
    const outbox = createOutbox('results', path.join(data.dir, 'outbox'), testLog);
    const results = Array.from({ length: FILES }, () => sampleResult());
    await Promise.all(results.map((r) => outbox.enqueue(r)));
    const remaining = async () => (await readdir(path.join(data.dir, 'outbox'))).filter((n) => n.endsWith('.json')).length;

    const killedAt: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const before = await remaining();
      const agent = await startAgent(data.dir);
      // Wait until this round made some progress, then a random extra moment, then SIGKILL.
      await waitUntil(async () => (await remaining()) < before - 50, 30_000, `round ${round} progress`);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 150)));
      await kill9(agent);
      killedAt.push(await remaining());
    }
    expect(killedAt.every((n) => n > 0)).toBe(true); // every kill landed mid-drain

    const agent = await startAgent(data.dir);
    await waitUntil(async () => (await remaining()) === 0, 60_000, 'outbox empty after the last restart');
    await kill9(agent);

    const tally = tallyResults(await readStream(broker.nc, STREAM_RESULTS));
    expect(tally.ids.size).toBe(FILES);
    expect(results.every((r) => tally.ids.has(r.result_id))).toBe(true);
    expect(tally.identical).toBe(true);
    console.info(
      `SIGKILL x${ROUNDS}: files left at each kill ${killedAt.join(', ')}; ${FILES} delivered, ${tally.duplicates} duplicate copies`,
    );
    await data.cleanup();
  });
});
