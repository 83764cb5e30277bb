#!/usr/bin/env node
/**
 * Bench for issue #17 item 1 / #15 item 1 (docs/PERFORMANCE.md, "Admission burst"): admissions per
 * second for a burst of N distinct commands, with the same durability (each admission resolves only
 * once its record is fsynced), side by side in one run on the same disk:
 *   - file per record, one at a time (the ledger before the journal: tmp → fsync → rename → dir fsync)
 *   - file per record, 64 at once (the same writes with the intake's concurrency)
 *   - the journal ledger, 64 at once (group commit: one fdatasync per batch), then its materializing
 * Needs `npx tsc -p tsconfig.json` first (imports dist/). Run: node bench/admission-burst.mjs
 * (N=2000 by default; BENCH_TMP=/dev/shm takes fsync out of the picture).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openAdmissionLedger } from '../dist/actors/exec/admission-ledger.js';
import { syncDirectory, writeFileAtomic } from '../dist/actors/durable-fs.js';

const N = Number(process.env.N ?? 2000);
const CONCURRENCY = 64;
const root = await mkdtemp(path.join(process.env.BENCH_TMP ?? os.tmpdir(), 'kanade-bench-burst-'));
const body = (i) =>
  new TextEncoder().encode(
    JSON.stringify({
      id: 'adhoc-run',
      version: '1',
      request_id: `burst-${i}-${randomUUID()}`,
      exec_id: null,
      shell: 'sh',
      script: 'true',
      timeout_secs: 60,
      jitter_secs: null,
    }),
  );
const record = (i) =>
  JSON.stringify({ request_id: `r${i}`, body_base64: Buffer.from(body(i)).toString('base64'), state: 'pending', queued: false });

const inBatches = async (fn) => {
  for (let i = 0; i < N; i += CONCURRENCY) await Promise.all(Array.from({ length: Math.min(CONCURRENCY, N - i) }, (_, k) => fn(i + k)));
};
const rate = (ms) => `${Math.round(N / (ms / 1000))}/s`;

try {
  const serialDir = path.join(root, 'serial');
  await (await import('node:fs/promises')).mkdir(serialDir);
  let t0 = performance.now();
  for (let i = 0; i < N; i += 1) await writeFileAtomic(path.join(serialDir, `r${i}.json`), record(i), { syncDir: true });
  const serialMs = performance.now() - t0;

  const parallelDir = path.join(root, 'parallel');
  await (await import('node:fs/promises')).mkdir(parallelDir);
  t0 = performance.now();
  await inBatches(async (i) => {
    await writeFileAtomic(path.join(parallelDir, `r${i}.json`), record(i));
    await syncDirectory(parallelDir);
  });
  const parallelMs = performance.now() - t0;

  const ledger = await openAdmissionLedger(path.join(root, 'journal'));
  t0 = performance.now();
  await inBatches(async (i) => {
    const a = await ledger.admit({
      requestId: `r${i}`,
      body: body(i),
      headers: {},
      subject: 'commands.pc.BENCH',
      receivedAt: new Date().toISOString(),
      resultId: randomUUID(),
      nowMs: Date.now(),
    });
    if (a.kind !== 'admitted') throw new Error(`r${i} not admitted`);
  });
  const journalMs = performance.now() - t0;
  t0 = performance.now();
  await ledger.flush();
  const materializeMs = performance.now() - t0;

  console.log(
    `burst of ${N} admissions, data dir under ${path.dirname(root)}, node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`,
  );
  console.log(`file per record, one at a time   ${rate(serialMs).padStart(8)}  (${serialMs.toFixed(0)} ms)`);
  console.log(`file per record, ${CONCURRENCY} at once      ${rate(parallelMs).padStart(8)}  (${parallelMs.toFixed(0)} ms)`);
  console.log(
    `journal (group commit), ${CONCURRENCY} at once ${rate(journalMs).padStart(8)}  (${journalMs.toFixed(0)} ms; then ${materializeMs.toFixed(0)} ms to write the ${N} record files in the background)`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
