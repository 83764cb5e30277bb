/**
 * The admission ledger (§7): one JSON record per request_id under `<data_dir>/admission/`, so a
 * command is admitted exactly once across live delivery, replay, re-publish and restarts.
 *
 * Every record write is first made durable in an append-only journal (`admission/journal.log`):
 * the writes that arrive while one `fdatasync` runs share the next one (group commit), so a record
 * costs about one fdatasync of the journal instead of a file fsync plus a directory fsync. The
 * per-request files (tmp → fsync → rename, then one directory fsync for the whole pass) are written
 * from the journal in the background every {@link MATERIALIZE_INTERVAL_MS} — a command that ran in
 * between gets one file, in its last state — and the journal is truncated once every record in it
 * is in its file. At open, the journal is replayed over the files (a record's state only moves
 * forward, so a stale line never wins over a newer file). An in-memory index keeps lookups and the
 * retention caps cheap.
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { readRegularText } from '../regular-file.js';
import path from 'node:path';
import {
  ADMISSION_MAX_BYTES,
  ADMISSION_MAX_RECORDS,
  ADMISSION_TOMBSTONE_MS,
  decodeExecResult,
  type ExecResult,
} from '../../contract/index.js';
import { syncDirectory, writeFileAtomic } from '../durable-fs.js';
import type { HeaderMap } from './verify-signature.js';

/** Name of the journal inside the ledger directory (not `*.json`, so never read as a record). */
export const JOURNAL_FILE = 'journal.log';
/**
 * How often journaled records are written to their files (our choice). Longer than the result
 * hand-off's settle window (exec-runtime's `HANDOFF_SETTLE_MS`, 200 ms), so a command's record is
 * usually written once, already finished and queued, instead of once finished and again queued.
 */
export const MATERIALIZE_INTERVAL_MS = 1_000;
/**
 * A journal this big that a materializing pass cannot empty (a record was written during the pass,
 * as under steady load) is rewritten holding only the records not yet in their files, so it never
 * grows without bound (our choice).
 */
export const JOURNAL_COMPACT_BYTES = 1024 * 1024;
/** Record files written at once while materializing. */
const MATERIALIZE_PARALLEL = 16;
/** Journaled bytes not yet in their files above which writers wait for the materializer (memory bound). */
export const UNSAVED_MAX_BYTES = 16 * 1024 * 1024;

/** Records deleted per pruning pass at most, so a pass never stalls intake. */
export const PRUNE_BATCH_RECORDS = 500;
/** Ledger record format version, written into every record. */
const RECORD_FORMAT = 1;

/** Life cycle of an admitted command. */
export type AdmissionState = 'pending' | 'launching' | 'finished';

/** One ledger record as stored on disk (format our choice, §7). */
export interface AdmissionRecord {
  readonly format: number;
  readonly request_id: string;
  readonly body_sha256: string;
  readonly body_base64: string;
  readonly headers: HeaderMap;
  readonly subject: string;
  /** When the agent received the command (echoed in deadline skips). */
  readonly received_at: string;
  /** Fixed at admission; every result and EventStarted of this command carries it. */
  readonly result_id: string;
  readonly state: AdmissionState;
  /** The result reached the results outbox. */
  readonly queued: boolean;
  readonly result?: ExecResult;
  /**
   * `result` is the whole result, output included (the executor's result hand-off, docs/executor.md):
   * until the record says `queued`, this copy is what recovery publishes. Otherwise `result` holds
   * metadata only (exit code, times, offload keys).
   */
  readonly result_full?: boolean;
  readonly admitted_at_ms: number;
  readonly updated_at_ms: number;
}

/** What `admit` decided. */
export type Admission =
  | { readonly kind: 'admitted'; readonly record: AdmissionRecord }
  | { readonly kind: 'duplicate'; readonly record: AdmissionRecord }
  | { readonly kind: 'conflict'; readonly record: AdmissionRecord; readonly bodySha256: string };

interface IndexEntry {
  state: AdmissionState;
  queued: boolean;
  bytes: number;
  updatedAtMs: number;
  bodySha256: string;
}

/** The ledger of one agent. */
export interface AdmissionLedger {
  readonly dir: string;
  /**
   * Admits `body` under `requestId`, or reports a duplicate/conflict. Rejects when the write fails.
   * `launchNow`, asked only for a new request_id, may answer true: the record is then written as
   * `launching` at once (one journal record instead of `pending` then `launching`).
   */
  admit(input: {
    requestId: string;
    body: Uint8Array;
    headers: HeaderMap;
    subject: string;
    receivedAt: string;
    resultId: string;
    nowMs: number;
    launchNow?: () => Promise<boolean>;
  }): Promise<Admission>;
  /** Rewrites a record with `patch` (state changes, the stored result). Rejects when the write fails. */
  update(
    record: AdmissionRecord,
    patch: Partial<Pick<AdmissionRecord, 'state' | 'queued' | 'result' | 'result_full'>>,
    nowMs?: number,
  ): Promise<AdmissionRecord>;
  /** Deletes a record (a pending command refused on re-verification does not consume its id). */
  remove(requestId: string): Promise<void>;
  /** Every record not yet finished-and-queued, for startup recovery (§7). */
  unfinished(): Promise<AdmissionRecord[]>;
  /** Deletes expired tombstones and the oldest finished records over the caps, at most {@link PRUNE_BATCH_RECORDS}. */
  prune(nowMs: number): Promise<number>;
  /** Record count and bytes, for status. */
  stats(): { records: number; bytes: number };
  /** Writes every journaled record to its file and truncates the journal (tests, benches). */
  flush(): Promise<void>;
}

/** Order of a record's states: a journal line only replaces a file that is not further on. */
function progress(record: Pick<AdmissionRecord, 'state' | 'queued'>): number {
  if (record.state === 'pending') return 0;
  if (record.state === 'launching') return 1;
  return record.queued ? 3 : 2;
}

/** Sanitized file stem of a request_id: chars outside `[A-Za-z0-9_-]` become `_`. */
export function ledgerFileStem(requestId: string): string {
  return requestId.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** SHA-256 of a body, lowercase hex. */
export function bodySha256(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The newest ledger opened on each directory in this process, and how many records older ones
 * (an executor restarted while the previous instance still ran) wrote since. The newest reads no
 * file back before writing it while no older instance has written since it opened: its own
 * records are then the newest states there are. An older one always reads back.
 */
const newestLedgerOf = new Map<string, symbol>();
const supersededWritesOn = new Map<string, number>();

/** The materializing pass running on each directory in this process, by any ledger instance. */
const passOnDirectory = new Map<string, Promise<void>>();

/**
 * Runs `pass` after the one running on `dir`, if any: a superseded ledger reads a file back and
 * then writes it, and a newer instance's write must not fall between the two.
 */
function oneDirectoryPassAtATime(dir: string, pass: () => Promise<void>): Promise<void> {
  const before = passOnDirectory.get(dir);
  const mine = before === undefined ? pass() : before.then(pass, pass);
  const settled = mine.catch(() => undefined);
  passOnDirectory.set(dir, settled);
  void settled.then(() => {
    if (passOnDirectory.get(dir) === settled) passOnDirectory.delete(dir);
  });
  return mine;
}

/** Opens (creating) the ledger directory and indexes its records; unreadable records are logged via `onBadRecord` and skipped. */
export async function openAdmissionLedger(
  dataDir: string,
  opts: {
    onBadRecord?: (file: string, reason: string) => void;
    beforeWrite?: () => Promise<void>;
    /** Called at the journal's durability points (failpoints: `ledger.journal_synced`, `ledger.materialized`). */
    at?: (point: string) => Promise<void>;
    platform?: NodeJS.Platform;
    /** Caps (§7); smaller values only in tests. */
    maxRecords?: number;
    maxBytes?: number;
    /** Journal size above which a pass that cannot empty it compacts it; smaller only in tests. */
    journalCompactBytes?: number;
  } = {},
): Promise<AdmissionLedger> {
  const maxRecords = opts.maxRecords ?? ADMISSION_MAX_RECORDS;
  const maxBytes = opts.maxBytes ?? ADMISSION_MAX_BYTES;
  const compactBytes = opts.journalCompactBytes ?? JOURNAL_COMPACT_BYTES;
  const dir = path.join(dataDir, 'admission');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const instance = Symbol(dir);
  newestLedgerOf.set(dir, instance);
  supersededWritesOn.set(dir, 0);
  const superseded = () => newestLedgerOf.get(dir) !== instance;
  const index = new Map<string, IndexEntry>();
  let totalBytes = 0;

  const fileOf = (requestId: string) => path.join(dir, `${ledgerFileStem(requestId)}.json`);
  /** Records journaled but not yet written to their files (the newest version of each). */
  const unsaved = new Map<string, { record: AdmissionRecord; text: string }>();
  let unsavedBytes = 0;
  const readFileRecord = async (requestId: string): Promise<AdmissionRecord | undefined> => {
    try {
      return parseRecord(await readRegularText(fileOf(requestId)));
    } catch {
      return undefined;
    }
  };
  const readRecord = async (requestId: string): Promise<AdmissionRecord | undefined> =>
    unsaved.get(requestId)?.record ?? readFileRecord(requestId);
  /** Like `readRecord`, but only a vanished file reads as absent; any other failure throws. */
  const readKnownRecord = async (requestId: string): Promise<AdmissionRecord | undefined> => {
    const journaled = unsaved.get(requestId);
    if (journaled !== undefined) return journaled.record;
    let text: string;
    try {
      text = await readRegularText(fileOf(requestId));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const record = parseRecord(text);
    if (record === undefined) throw new Error(`admission record of ${requestId} is unreadable; not admitting it again`);
    return record;
  };
  const remember = (record: AdmissionRecord, bytes: number) => {
    const old = index.get(record.request_id);
    totalBytes += bytes - (old?.bytes ?? 0);
    index.set(record.request_id, {
      state: record.state,
      queued: record.queued,
      bytes,
      updatedAtMs: record.updated_at_ms,
      bodySha256: record.body_sha256,
    });
  };
  const keepUnsaved = (record: AdmissionRecord, text: string) => {
    unsavedBytes += text.length - (unsaved.get(record.request_id)?.text.length ?? 0);
    unsaved.set(record.request_id, { record, text });
    scheduleMaterialize();
  };
  const forgetUnsaved = (requestId: string) => {
    const entry = unsaved.get(requestId);
    if (entry === undefined) return;
    unsavedBytes -= entry.text.length;
    unsaved.delete(requestId);
  };

  // --- the journal: group commit of appends; truncation runs in the same serial writer ---
  const journalPath = path.join(dir, JOURNAL_FILE);
  const instanceTag = createHash('sha256').update(`${process.pid}:${Math.random()}`).digest('hex').slice(0, 8);
  /** Bytes this instance appended since it last emptied the journal; another writer shows as a size mismatch. */
  let ownJournalBytes = 0;
  let journal: FileHandle | undefined;
  let batch: string[] = [];
  let waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  let writer: Promise<void> | undefined;
  let appendedSinceTruncate = 0;
  const journalHandle = async () => {
    journal ??= await open(journalPath, 'a', 0o600);
    return journal;
  };
  const pump = () => {
    if (writer !== undefined) return;
    writer = (async () => {
      while (batch.length > 0) {
        const lines = batch;
        const done = waiters;
        batch = [];
        waiters = [];
        // Bytes of this batch that reached the file, counted even when the write or the fdatasync
        // then fails: the size check before emptying the journal must keep matching our own appends.
        let written = 0;
        try {
          const handle = await journalHandle();
          // Each batch starts on a fresh line, so a torn tail from a crash or a failed write only
          // spoils itself, never the next record.
          const chunk = `\n${lines.join('\n')}\n`;
          // The append itself runs synchronously (page cache, microseconds); only the fdatasync
          // goes to the thread pool: one round trip per batch instead of two.
          const bytes = Buffer.from(chunk);
          while (written < bytes.length) written += writeSync(handle.fd, bytes, written);
          await handle.datasync();
          appendedSinceTruncate += lines.length;
          await opts.at?.('ledger.journal_synced');
          for (const w of done) w.resolve();
        } catch (err) {
          for (const w of done) w.reject(err as Error);
        } finally {
          ownJournalBytes += written;
          // Lines that reached the file are replayed at the next open even if reported failed: the
          // journal must be emptied by a later pass all the same.
          if (written > 0) appendedSinceTruncate += 1;
        }
      }
    })().finally(() => {
      writer = undefined;
      if (batch.length > 0) pump();
    });
  };
  /** Lines handed to the journal whose record is not yet in `unsaved` (the journal must not be emptied then). */
  let journaling = 0;
  /** Appends `line` durably, then runs `then` (synchronously, before anything may truncate the journal). */
  const journalThen = async (line: string, then: () => void) => {
    if (superseded()) supersededWritesOn.set(dir, (supersededWritesOn.get(dir) ?? 0) + 1);
    journaling += 1;
    try {
      await new Promise<void>((resolve, reject) => {
        batch.push(line);
        waiters.push({ resolve, reject });
        pump();
      });
      then();
    } finally {
      journaling -= 1;
    }
  };

  // --- materializing: journaled records into their files, then the journal is emptied ---
  let materializeTimer: NodeJS.Timeout | undefined;
  let materializing: Promise<void> | undefined;
  function scheduleMaterialize() {
    if (materializeTimer !== undefined || materializing !== undefined) return;
    materializeTimer = setTimeout(() => {
      materializeTimer = undefined;
      void materialize().catch(() => undefined);
    }, MATERIALIZE_INTERVAL_MS);
    materializeTimer.unref();
  }
  const materializeOnce = async () => {
    const entries = [...unsaved.values()];
    const readBack = superseded() || (supersededWritesOn.get(dir) ?? 0) > 0;
    for (let i = 0; i < entries.length; i += MATERIALIZE_PARALLEL) {
      await Promise.all(
        entries.slice(i, i + MATERIALIZE_PARALLEL).map(async (e) => {
          // A newer ledger on the same directory (an executor restarted after a crash, or a test)
          // may have written a newer state: a file is never moved backwards.
          if (readBack) {
            const onDisk = await readFileRecord(e.record.request_id);
            if (onDisk !== undefined && progress(onDisk) > progress(e.record)) return;
          }
          await writeFileAtomic(fileOf(e.record.request_id), e.text, { tmpTag: instanceTag });
        }),
      );
    }
    if (entries.length > 0) await syncDirectory(dir, opts.platform);
    await opts.at?.('ledger.materialized');
    for (const e of entries) {
      if (unsaved.get(e.record.request_id) === e) forgetUnsaved(e.record.request_id);
    }
    // Every journaled record is in its file now (and the directory synced): empty the journal,
    // inside the writer so no append interleaves. A lost truncation only replays older lines,
    // which never win over the files.
    if (unsaved.size > 0 && ownJournalBytes > compactBytes && ownJournalBytes > 4 * unsavedBytes) await compact();
    if (unsaved.size === 0 && appendedSinceTruncate > 0) {
      while (writer !== undefined) await writer;
      if (unsaved.size === 0 && batch.length === 0 && journaling === 0 && writer === undefined) {
        writer = (async () => {
          const handle = await journalHandle();
          // Lines of another ledger instance on this directory are not ours to drop.
          if ((await handle.stat()).size !== ownJournalBytes) return;
          await handle.truncate(0);
          await handle.datasync();
          appendedSinceTruncate = 0;
          ownJournalBytes = 0;
        })().finally(() => {
          writer = undefined;
          if (batch.length > 0) pump();
        });
        await writer;
      }
    }
  };
  /**
   * Rewrites the journal as the records not yet in their files (tmp → fsync → rename → directory
   * fsync), inside the writer so no append interleaves. A crash before the rename keeps the old
   * journal, after it the new one: either holds every record not in its file.
   */
  const compact = async () => {
    while (writer !== undefined) await writer;
    if (batch.length > 0 || journaling > 0 || writer !== undefined) return;
    writer = (async () => {
      const handle = await journalHandle();
      // Lines of another ledger instance on this directory are not ours to drop.
      if ((await handle.stat()).size !== ownJournalBytes) return;
      const texts = [...unsaved.values()].map((e) => e.text);
      const content = Buffer.from(`${texts.join('\n')}\n`);
      // Closed first: Windows renames over a file only when nobody holds it open.
      journal = undefined;
      await handle.close();
      await writeFileAtomic(journalPath, content, { tmpTag: instanceTag, syncDir: true });
      ownJournalBytes = content.length;
      appendedSinceTruncate = texts.length;
    })().finally(() => {
      writer = undefined;
      if (batch.length > 0) pump();
    });
    await writer;
  };
  const materialize = (): Promise<void> => {
    if (materializing !== undefined) return materializing;
    materializing = oneDirectoryPassAtATime(dir, materializeOnce).finally(() => {
      materializing = undefined;
      if (unsaved.size > 0) scheduleMaterialize();
    });
    return materializing;
  };
  /**
   * Back-pressure: while too many journaled bytes wait for their files, writers wait for a pass. A
   * failed pass (disk full, read-only) fails the waiting write, so the refusal surfaces (no ack,
   * `admission_error` in status) instead of a writer waiting forever on a pass retried in a loop.
   */
  const room = async () => {
    while (unsavedBytes > UNSAVED_MAX_BYTES) {
      if (materializeTimer !== undefined) {
        clearTimeout(materializeTimer);
        materializeTimer = undefined;
      }
      await materialize();
    }
  };

  const write = async (record: AdmissionRecord) => {
    await opts.beforeWrite?.();
    await room();
    const text = JSON.stringify(record);
    // Durable before it resolves: `pending` before the ack, `launching` before the spawn.
    await journalThen(text, () => {
      keepUnsaved(record, text);
      remember(record, Buffer.byteLength(text));
    });
  };
  const drop = async (requestId: string, journalRemoval: boolean) => {
    if (unsaved.has(requestId) || (journalRemoval && appendedSinceTruncate > 0)) {
      // A journaled line would bring the record back at the next open: journal the removal too.
      await journalThen(JSON.stringify({ removed: requestId }), () => forgetUnsaved(requestId));
    }
    // A materializing pass took its snapshot before the removal and may still write this record's
    // file: let it finish, or the file would outlive its removal.
    while (materializing !== undefined) await materializing.catch(() => undefined);
    await unlink(fileOf(requestId)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    totalBytes -= index.get(requestId)?.bytes ?? 0;
    index.delete(requestId);
  };

  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      // A torn write from a crash: the rename never happened, so the record never existed.
      await unlink(path.join(dir, name)).catch(() => undefined);
      continue;
    }
    if (!name.endsWith('.json')) continue;
    let text: string;
    try {
      // Never opens a FIFO, socket, device or symlink (issue #17.3: a FIFO would block the start).
      text = await readRegularText(path.join(dir, name));
    } catch (err) {
      opts.onBadRecord?.(name, (err as Error).message);
      continue;
    }
    const record = parseRecord(text);
    if (record === undefined) {
      opts.onBadRecord?.(name, 'not a ledger record');
      continue;
    }
    remember(record, Buffer.byteLength(text));
  }
  await replayJournal();

  /** Applies the journal left by the last run over the files, then materializes it at once. */
  async function replayJournal() {
    let text: string;
    try {
      text = await readRegularText(journalPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const latest = new Map<string, AdmissionRecord | 'removed'>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        opts.onBadRecord?.(JOURNAL_FILE, 'a torn journal line (a crash mid-write; that record was never acknowledged)');
        continue;
      }
      const removed = (value as { removed?: unknown } | null)?.removed;
      if (typeof removed === 'string') {
        latest.set(removed, 'removed');
        continue;
      }
      const record = parseRecord(line);
      if (record === undefined) {
        opts.onBadRecord?.(JOURNAL_FILE, 'a journal line that is not a ledger record');
        continue;
      }
      latest.set(record.request_id, record);
    }
    for (const [requestId, record] of latest) {
      if (record === 'removed') {
        await unlink(fileOf(requestId)).catch(() => undefined);
        totalBytes -= index.get(requestId)?.bytes ?? 0;
        index.delete(requestId);
        continue;
      }
      const onDisk = await readFileRecord(requestId);
      if (onDisk !== undefined && progress(onDisk) > progress(record)) continue;
      const recordText = JSON.stringify(record);
      keepUnsaved(record, recordText);
      remember(record, Buffer.byteLength(recordText));
    }
    appendedSinceTruncate = 1;
    // The file's own size, not the decoded text's (a torn multibyte tail decodes to U+FFFD).
    ownJournalBytes = (await stat(journalPath)).size;
    await materialize();
  }

  // Admissions run concurrently (group commit); two copies of one request_id (live and replay)
  // must still be decided one after the other, or both would be admitted.
  const admitting = new Map<string, Promise<unknown>>();
  const oneAtATime = async <T>(requestId: string, fn: () => Promise<T>): Promise<T> => {
    for (let busy = admitting.get(requestId); busy !== undefined; busy = admitting.get(requestId)) {
      await busy.catch(() => undefined);
    }
    const run = fn();
    admitting.set(requestId, run);
    try {
      return await run;
    } finally {
      if (admitting.get(requestId) === run) admitting.delete(requestId);
    }
  };

  return {
    dir,
    admit: (input) =>
      oneAtATime(input.requestId, async () => {
        const { requestId, body, headers, subject, receivedAt, resultId, nowMs, launchNow } = input;
        const sha = bodySha256(body);
        const known = index.get(requestId);
        if (known !== undefined) {
          // A known id whose record cannot be read must not be admitted again (it could run twice):
          // the error makes the pipeline answer `unavailable` (no ack, redelivered later).
          const record = await readKnownRecord(requestId);
          if (record !== undefined) {
            return record.body_sha256 === sha ? { kind: 'duplicate', record } : { kind: 'conflict', record, bodySha256: sha };
          }
        }
        const record: AdmissionRecord = {
          format: RECORD_FORMAT,
          request_id: requestId,
          body_sha256: sha,
          body_base64: Buffer.from(body).toString('base64'),
          headers,
          subject,
          received_at: receivedAt,
          result_id: resultId,
          state: launchNow !== undefined && (await launchNow()) ? 'launching' : 'pending',
          queued: false,
          admitted_at_ms: nowMs,
          updated_at_ms: nowMs,
        };
        await write(record);
        return { kind: 'admitted' as const, record };
      }),
    async update(record, patch, nowMs = Date.now()) {
      const next: AdmissionRecord = { ...record, ...patch, updated_at_ms: nowMs };
      await write(next);
      return next;
    },
    remove: (requestId) => drop(requestId, true),
    async unfinished() {
      const out: AdmissionRecord[] = [];
      for (const [requestId, entry] of index) {
        if (entry.state === 'finished' && entry.queued) continue;
        const record = await readRecord(requestId);
        if (record !== undefined) out.push(record);
      }
      return out.sort((a, b) => a.admitted_at_ms - b.admitted_at_ms);
    },
    async prune(nowMs) {
      let removed = 0;
      const finished = [...index.entries()]
        .filter(([, e]) => e.state === 'finished' && e.queued)
        .sort((a, b) => a[1].updatedAtMs - b[1].updatedAtMs);
      for (const [requestId, entry] of finished) {
        if (removed >= PRUNE_BATCH_RECORDS) break;
        const expired = nowMs - entry.updatedAtMs > ADMISSION_TOMBSTONE_MS;
        const overCap = index.size > maxRecords || totalBytes > maxBytes;
        if (!expired && !overCap) break;
        // A finished-and-queued record brought back by an old journal line is only pruned again.
        await drop(requestId, false);
        removed += 1;
      }
      return removed;
    },
    stats: () => ({ records: index.size, bytes: totalBytes }),
    async flush() {
      while (writer !== undefined) await writer;
      if (materializeTimer !== undefined) {
        clearTimeout(materializeTimer);
        materializeTimer = undefined;
      }
      await materialize();
      // A pass that was already running may have left newer records behind.
      if (unsaved.size > 0) await materialize();
    },
  };
}

function parseRecord(text: string): AdmissionRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const states: readonly unknown[] = ['pending', 'launching', 'finished'];
  if (
    typeof r['request_id'] !== 'string' ||
    typeof r['body_sha256'] !== 'string' ||
    typeof r['body_base64'] !== 'string' ||
    typeof r['result_id'] !== 'string' ||
    !states.includes(r['state']) ||
    typeof r['queued'] !== 'boolean' ||
    typeof r['updated_at_ms'] !== 'number'
  )
    return undefined;
  if (r['result'] !== undefined) {
    const decoded = decodeExecResult(JSON.stringify(r['result']));
    if (!decoded.ok) return undefined;
  }
  return value as AdmissionRecord;
}
