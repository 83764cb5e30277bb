/**
 * The admission ledger (§7): one durable JSON record per request_id under `<data_dir>/admission/`,
 * written tmp → fsync → rename, so a command is admitted exactly once across live delivery, replay,
 * re-publish and restarts. An in-memory index (built by one scan at open) keeps lookups and the
 * retention caps cheap; the files stay the truth.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import { readRegularText } from '../regular-file.js';
import path from 'node:path';
import {
  ADMISSION_MAX_BYTES, ADMISSION_MAX_RECORDS, ADMISSION_TOMBSTONE_MS, decodeExecResult, type ExecResult,
} from '../../contract/index.js';
import { renameReplacing, syncDirectory } from '../durable-fs.js';
import type { HeaderMap } from './verify-signature.js';

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
  /** Admits `body` under `requestId`, or reports a duplicate/conflict. Rejects when the write fails. */
  admit(input: { requestId: string; body: Uint8Array; headers: HeaderMap; subject: string; receivedAt: string; resultId: string; nowMs: number }): Promise<Admission>;
  /** Rewrites a record with `patch` (state changes, the stored result). Rejects when the write fails. */
  update(record: AdmissionRecord, patch: Partial<Pick<AdmissionRecord, 'state' | 'queued' | 'result'>>, nowMs?: number): Promise<AdmissionRecord>;
  /** Deletes a record (a pending command refused on re-verification does not consume its id). */
  remove(requestId: string): Promise<void>;
  /** Every record not yet finished-and-queued, for startup recovery (§7). */
  unfinished(): Promise<AdmissionRecord[]>;
  /** Deletes expired tombstones and the oldest finished records over the caps, at most {@link PRUNE_BATCH_RECORDS}. */
  prune(nowMs: number): Promise<number>;
  /** Record count and bytes, for status. */
  stats(): { records: number; bytes: number };
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
 * Writes `data` to `file` durably: `<file>.tmp`, fsync, rename; with `syncDir` also fsyncs the
 * directory (not on Windows, see {@link syncDirectory}), so the rename itself survives a power cut
 * (a process crash never loses it).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { syncDir?: boolean } = {}): Promise<void> {
  const tmp = `${file}.tmp`;
  // 0600: ledger records and cached scripts hold script bodies (private files, issue #13).
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await renameReplacing(tmp, file);
  if (opts.syncDir) await syncDirectory(path.dirname(file));
}

/** Opens (creating) the ledger directory and indexes its records; unreadable records are logged via `onBadRecord` and skipped. */
export async function openAdmissionLedger(
  dataDir: string,
  opts: {
    onBadRecord?: (file: string, reason: string) => void;
    beforeWrite?: () => Promise<void>;
    /** Caps (§7); smaller values only in tests. */
    maxRecords?: number;
    maxBytes?: number;
  } = {},
): Promise<AdmissionLedger> {
  const maxRecords = opts.maxRecords ?? ADMISSION_MAX_RECORDS;
  const maxBytes = opts.maxBytes ?? ADMISSION_MAX_BYTES;
  const dir = path.join(dataDir, 'admission');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const index = new Map<string, IndexEntry>();
  let totalBytes = 0;

  const fileOf = (requestId: string) => path.join(dir, `${ledgerFileStem(requestId)}.json`);
  const readRecord = async (requestId: string): Promise<AdmissionRecord | undefined> => {
    try {
      return parseRecord(await readRegularText(fileOf(requestId)));
    } catch {
      return undefined;
    }
  };
  /** Like `readRecord`, but only a vanished file reads as absent; any other failure throws. */
  const readKnownRecord = async (requestId: string): Promise<AdmissionRecord | undefined> => {
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
      state: record.state, queued: record.queued, bytes, updatedAtMs: record.updated_at_ms, bodySha256: record.body_sha256,
    });
  };
  const write = async (record: AdmissionRecord) => {
    await opts.beforeWrite?.();
    const text = JSON.stringify(record);
    // Losing `pending` after the ack would lose the command, losing `launching` would run it twice:
    // those two renames are made power-cut safe. A lost `finished` only repeats a result_id.
    await writeFileAtomic(fileOf(record.request_id), text, { syncDir: record.state !== 'finished' });
    remember(record, Buffer.byteLength(text));
  };
  const drop = async (requestId: string) => {
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
    admit: (input) => oneAtATime(input.requestId, async () => {
      const { requestId, body, headers, subject, receivedAt, resultId, nowMs } = input;
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
        state: 'pending',
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
    remove: drop,
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
        await drop(requestId);
        removed += 1;
      }
      return removed;
    },
    stats: () => ({ records: index.size, bytes: totalBytes }),
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
  if (typeof r['request_id'] !== 'string' || typeof r['body_sha256'] !== 'string' || typeof r['body_base64'] !== 'string'
    || typeof r['result_id'] !== 'string' || !states.includes(r['state']) || typeof r['queued'] !== 'boolean'
    || typeof r['updated_at_ms'] !== 'number') return undefined;
  if (r['result'] !== undefined) {
    const decoded = decodeExecResult(JSON.stringify(r['result']));
    if (!decoded.ok) return undefined;
  }
  return value as AdmissionRecord;
}
