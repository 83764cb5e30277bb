/**
 * The one rule for making a rename durable across a power cut: fsync the directory that holds it.
 * Windows refuses to open a directory for fsync (EPERM) and NTFS journals the rename itself, so
 * there the directory sync is skipped. The admission ledger, the outbox, the updater and the job
 * launcher's copy all go through here.
 * Windows also refuses to replace a file while another handle has it open (a concurrent reader):
 * such a rename is retried briefly instead of failing the write.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { lstat, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Waits between rename attempts on Windows (ms); their sum bounds how long a reader may block a replace. */
export const WINDOWS_RENAME_RETRY_MS: readonly number[] = [10, 20, 40, 80, 160, 320, 640];
/** Errors Windows gives a rename whose target another handle has open (a transient sharing violation). */
const WINDOWS_RENAME_BUSY = new Set(['EPERM', 'EACCES', 'EBUSY']);

/**
 * Whether `platform` lets a directory be fsynced (everything but Windows).
 *
 * @example canSyncDirectory('win32') // false
 */
export function canSyncDirectory(platform: NodeJS.Platform): boolean {
  return platform !== 'win32';
}

/** fsyncs directory `dir` so renames into it survive a power cut; a no-op where {@link canSyncDirectory} says no. */
export async function syncDirectory(dir: string, platform: NodeJS.Platform = process.platform): Promise<void> {
  if (!canSyncDirectory(platform)) return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Synchronous {@link syncDirectory}, for the boot-time swap that runs before anything else. */
export function syncDirectorySync(dir: string, platform: NodeJS.Platform = process.platform): void {
  if (!canSyncDirectory(platform)) return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Also fsync the directory, so the rename itself survives a power cut (a crash never loses it). */
  readonly syncDir?: boolean;
  /** Distinguishes the temp file of concurrent writers: `<file>.<tmpTag>.tmp`. */
  readonly tmpTag?: string;
  /** Mode of the new file; 0600 by default (the agent's files are private, issue #13). */
  readonly mode?: number;
}

/**
 * Writes `data` to `file` durably: `<file>.tmp`, fsync, rename (retried on Windows, see
 * {@link renameReplacing}); with `syncDir` also {@link syncDirectory}.
 *
 * @example await writeFileAtomic('/var/lib/kanade-agent/last_swap.json', text, { syncDir: true });
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = opts.tmpTag === undefined ? `${file}.tmp` : `${file}.${opts.tmpTag}.tmp`;
  const handle = await open(tmp, 'w', opts.mode ?? 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await renameReplacing(tmp, file);
  if (opts.syncDir === true) await syncDirectory(path.dirname(file));
}

/**
 * Renames `from` over `to`. On Windows a target held open by a reader answers EPERM/EACCES/EBUSY
 * for as long as the reader holds it, so the rename is retried after each of
 * {@link WINDOWS_RENAME_RETRY_MS}; elsewhere, and for other errors, the first failure rejects.
 */
export async function renameReplacing(
  from: string,
  to: string,
  platform: NodeJS.Platform = process.platform,
  renameFile: (from: string, to: string) => Promise<void> = rename,
): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await renameFile(from, to);
      return;
    } catch (error) {
      const waitMs = WINDOWS_RENAME_RETRY_MS[attempt];
      const busy = WINDOWS_RENAME_BUSY.has((error as NodeJS.ErrnoException).code ?? '');
      if (platform !== 'win32' || !busy || waitMs === undefined) throw error;
      await sleep(waitMs);
    }
  }
}

/**
 * Whether `file` exists (without following a final symlink); rejects on errors other than ENOENT
 * (a permission problem is not "absent").
 *
 * @example if (!(await entryExists(target))) await rename(from, target);
 */
export async function entryExists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * {@link syncDirectory} of `dir` shared by concurrent callers: one that arrives while a sync runs
 * waits for the next one, which covers every rename made before it started; callers arriving
 * meanwhile share that one too. Writers that rename many files at once (the outbox's enqueues)
 * pay one fsync per burst instead of one each.
 *
 * @example
 * const sync = coalescedDirectorySync('/var/lib/kanade-agent/outbox');
 * await Promise.all([rename(a, a2).then(sync), rename(b, b2).then(sync)]); // one or two fsyncs
 */
export function coalescedDirectorySync(dir: string, platform: NodeJS.Platform = process.platform): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const run = syncDirectory(dir, platform);
    running = run;
    const clear = (): void => {
      if (running === run) running = undefined;
    };
    run.then(clear, clear);
    return run;
  };
  return () => {
    if (!canSyncDirectory(platform)) return Promise.resolve();
    if (queued !== undefined) return queued;
    if (running !== undefined) {
      const next = running
        .catch(() => undefined)
        .then(() => {
          queued = undefined;
          return start();
        });
      queued = next;
      return next;
    }
    return start();
  };
}
