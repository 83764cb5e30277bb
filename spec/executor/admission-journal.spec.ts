/** The admission ledger's journal (issue #15 item 1, #17 item 1): group commit, replay at open, forward-only merge. */
import { appendFile, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JOURNAL_FILE, openAdmissionLedger, type AdmissionRecord } from '../../actors/exec/admission-ledger.js';
import { removeDir } from './harness.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await removeDir(dir);
});
const temp = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kanade-journal-'));
  dirs.push(dir);
  return dir;
};
const input = (id: string) => ({
  requestId: id,
  body: new TextEncoder().encode(`{"id":"${id}"}`),
  headers: {},
  subject: 'commands.all',
  receivedAt: '2026-01-01T00:00:00.000Z',
  resultId: `r-${id}`,
  nowMs: 1_000,
});
const admitted = async (ledger: Awaited<ReturnType<typeof openAdmissionLedger>>, id: string): Promise<AdmissionRecord> => {
  const a = await ledger.admit(input(id));
  if (a.kind !== 'admitted') throw new Error(`${id} not admitted`);
  return a.record;
};

describe('admission journal', () => {
  it('concurrent admissions share fdatasyncs and are all durable in the journal before they resolve', async () => {
    const dataDir = await temp();
    const syncs: string[] = [];
    const ledger = await openAdmissionLedger(dataDir, {
      at: async (p) => {
        syncs.push(p);
      },
    });
    await Promise.all(Array.from({ length: 100 }, (_, i) => admitted(ledger, `c${i}`)));
    const journalSyncs = syncs.filter((p) => p === 'ledger.journal_synced').length;
    expect(journalSyncs).toBeGreaterThanOrEqual(1);
    expect(journalSyncs).toBeLessThan(100);
    const lines = (await readFile(path.join(dataDir, 'admission', JOURNAL_FILE), 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(100);
  });

  it('a restart before materializing (crash) replays the journal: pending stays pending, launching stays launching, a removal stays removed', async () => {
    const dataDir = await temp();
    const first = await openAdmissionLedger(dataDir);
    const a = await admitted(first, 'a');
    const b = await admitted(first, 'b');
    await admitted(first, 'gone');
    await first.update(b, { state: 'launching' });
    await first.remove('gone');
    // No flush: the files are not written yet, only the journal holds the records.
    const reopened = await openAdmissionLedger(dataDir);
    const unfinished = await reopened.unfinished();
    expect(unfinished.map((r) => [r.request_id, r.state])).toEqual([
      ['a', 'pending'],
      ['b', 'launching'],
    ]);
    expect(unfinished[0]?.result_id).toBe(a.result_id);
    expect((await reopened.admit(input('a'))).kind).toBe('duplicate');
    // Replayed records are in their files and the journal is empty again.
    const names = (await readdir(path.join(dataDir, 'admission'))).sort();
    expect(names).toEqual(['a.json', 'b.json', JOURNAL_FILE]);
    expect((await stat(path.join(dataDir, 'admission', JOURNAL_FILE))).size).toBe(0);
  });

  it('an old journal line never wins over a newer file, and a torn tail line is skipped', async () => {
    const dataDir = await temp();
    const ledger = await openAdmissionLedger(dataDir);
    const r = await admitted(ledger, 'x');
    const pendingLine = JSON.stringify(r);
    await ledger.update(r, { state: 'finished', queued: true });
    await ledger.flush();
    // As if the truncation after the last materializing pass was lost: the pending line is back.
    await writeFile(path.join(dataDir, 'admission', JOURNAL_FILE), `\n${pendingLine}\n{"request_id":"torn`);
    const reopened = await openAdmissionLedger(dataDir);
    expect(await reopened.unfinished()).toEqual([]);
    expect(JSON.parse(await readFile(path.join(dataDir, 'admission', 'x.json'), 'utf8'))).toMatchObject({
      state: 'finished',
      queued: true,
    });
  });

  it('a torn tail that cuts a multibyte character still lets the journal be emptied (its size is counted in bytes)', async () => {
    const dataDir = await temp();
    const first = await openAdmissionLedger(dataDir);
    const record = await admitted(first, 'kept');
    await first.flush();
    const journal = path.join(dataDir, 'admission', JOURNAL_FILE);
    // A crash mid-append: a whole line, then half of "é" (0xC3 without its 0xA9).
    await writeFile(
      journal,
      Buffer.concat([Buffer.from(`\n${JSON.stringify({ ...record, state: 'launching' })}\n{"stdout":"`), Buffer.from([0xc3])]),
    );
    const reopened = await openAdmissionLedger(dataDir);
    await reopened.flush();
    expect((await stat(journal)).size).toBe(0);
    expect((await reopened.unfinished()).map((x) => x.state)).toEqual(['launching']);
  });

  it('a line written after a torn tail is still read (every batch starts on a fresh line)', async () => {
    const dataDir = await temp();
    await writeFile(path.join(dataDir, 'placeholder'), '');
    const first = await openAdmissionLedger(dataDir);
    await appendFile(path.join(dataDir, 'admission', JOURNAL_FILE), '{"request_id":"half');
    await admitted(first, 'after');
    const reopened = await openAdmissionLedger(dataDir);
    expect((await reopened.unfinished()).map((x) => x.request_id)).toEqual(['after']);
  });

  it('launchNow: a new request_id is written once, straight as launching; a duplicate never asks', async () => {
    const dataDir = await temp();
    const ledger = await openAdmissionLedger(dataDir);
    let asked = 0;
    const launchNow = async () => {
      asked += 1;
      return true;
    };
    const first = await ledger.admit({ ...input('fast'), launchNow });
    expect(first).toMatchObject({ kind: 'admitted', record: { state: 'launching' } });
    expect((await ledger.admit({ ...input('fast'), launchNow })).kind).toBe('duplicate');
    expect(asked).toBe(1);
    const slow = await ledger.admit({ ...input('slow'), launchNow: async () => false });
    expect(slow).toMatchObject({ kind: 'admitted', record: { state: 'pending' } });
    const lines = (await readFile(path.join(dataDir, 'admission', JOURNAL_FILE), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AdmissionRecord);
    expect(lines.map((r) => [r.request_id, r.state])).toEqual([
      ['fast', 'launching'],
      ['slow', 'pending'],
    ]);
    // A restart before materializing: the launching record is recovered as launching (exit 121), never run.
    const reopened = await openAdmissionLedger(dataDir);
    expect((await reopened.unfinished()).map((r) => [r.request_id, r.state])).toEqual([
      ['fast', 'launching'],
      ['slow', 'pending'],
    ]);
    await reopened.flush();
    await ledger.flush();
  });
  it('the newest ledger reads a file back once an older instance on the directory wrote since it opened', async () => {
    const dataDir = await temp();
    const older = await openAdmissionLedger(dataDir);
    const record = await admitted(older, 'r');
    await older.flush();
    const newer = await openAdmissionLedger(dataDir);
    // The older instance (an executor that crashed but still ran) finishes the record after the
    // newer one opened; the newer one then writes a stale state it held for it.
    const finished = await older.update(record, { state: 'finished' });
    await older.flush();
    await newer.update(record, { state: 'launching' });
    await newer.flush();
    const onDisk = JSON.parse(await readFile(path.join(dataDir, 'admission', 'r.json'), 'utf8')) as AdmissionRecord;
    expect(onDisk.state).toBe(finished.state);
  });
  it('a journal that a pass cannot empty (a write during every pass) is compacted to the records not yet in their files', async () => {
    const dataDir = await temp();
    const journalLines = async () =>
      (await readFile(path.join(dataDir, 'admission', JOURNAL_FILE), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as AdmissionRecord).request_id);
    const passes: Array<() => Promise<void>> = [];
    const ledger = await openAdmissionLedger(dataDir, {
      journalCompactBytes: 1,
      at: async (point) => {
        if (point === 'ledger.materialized') await passes.shift()?.();
      },
    });
    for (let i = 0; i < 30; i += 1) await admitted(ledger, `c${i}`);
    let afterFirstPass: string[] = [];
    passes.push(
      // Steady load: a record arrives while the first pass writes the files, so it cannot empty the journal.
      async () => void (await admitted(ledger, 'late')),
      // The second pass starts from the compacted journal.
      async () => void (afterFirstPass = await journalLines()),
    );
    await ledger.flush();
    expect(afterFirstPass).toEqual(['late']);
    // Nothing is lost: the 30 are in their files, the late one too now.
    const reopened = await openAdmissionLedger(dataDir);
    expect(reopened.stats().records).toBe(31);
  });
});
