/**
 * The durable file outbox of contract §9: one JSON file per message, written so that a result the
 * caller was told is queued survives SIGKILL and power loss, listed in bounded batches so a backlog
 * of any size never sits in memory, and quarantined (never deleted) to its `stuck/` directory
 * (actors/outbox/stuck-dir.ts) when it cannot be delivered.
 *
 * enqueue: `<id>.json.tmp` → write → fsync → rename to `<id>.json` → fsync of the directory. The
 * directory fsyncs of concurrent enqueues are coalesced (one fsync covers every rename before it).
 * Deleting a delivered file is not fsynced: a delete lost to a power cut only means a resend, which
 * the backend de-duplicates by payload id (§1).
 *
 * @example
 * const store = new OutboxStore('/var/lib/kanade/outbox', OUTBOX_KINDS.results, log);
 * await store.enqueue(result); // durable once this resolves
 * for await (const names of store.listNameBatches(256)) console.log(names);
 */
import {
  close as closeFd,
  constants as fsConstants,
  fstat,
  lstat as lstatCb,
  lstatSync,
  open as openFd,
  read as readFd,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { lstat, mkdir, open, opendir, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { coalescedDirectorySync, entryExists } from '../durable-fs.js';
import { fileKind, readRegularFile, SAFE_READ_FLAGS, type FileKind } from '../regular-file.js';
import type { OutboxPort } from '../ports.js';
import type { OutboxKindSpec } from './outbox-kinds.js';
import { StuckDir } from './stuck-dir.js';
import { FreshFiles } from './fresh-files.js';

/** Suffix of a message file. */
export const MESSAGE_SUFFIX = '.json';
/** Suffix of a file still being written (never listed, never published). */
export const TMP_SUFFIX = '.json.tmp';
/**
 * Suffix of a message written but held back from publishing (`<id>.json.held`, never listed): the
 * executor releases it after the ledger has recorded the result as queued, so a result can never be
 * delivered and deleted while the ledger still says `launching` (issue #17 item 2).
 */
export const HELD_SUFFIX = '.json.held';
/** Directory entries read from the kernel per `opendir` read. */
export const LIST_BUFFER_ENTRIES = 512;
/**
 * Drain file operations (reads ahead, deletes) in flight at once per store. libuv runs file I/O on
 * 4 threads shared by the whole agent; a deeper queue does not drain faster, it only makes every
 * other file operation wait behind it (with ~450 drain operations queued, the heartbeat's first
 * beat waited 24–51 s behind a 100,000-file drain on a loaded machine; docs/PERFORMANCE.md).
 */
export const DRAIN_IO_CONCURRENCY = 16;
/** A `*.json.tmp` older than this is left over from a crash mid-enqueue (never acknowledged): removed. */
export const STALE_TMP_MS = 60 * 60_000;
/** A file read ahead of its turn: mtime and size from the same open, bytes when small enough. */
export interface PrefetchedFile {
  readonly name: string;
  readonly mtimeMs: number;
  /** Undefined when the file is larger than the prefetch limit (read again at its turn) or unreadable. */
  readonly bytes: Buffer | undefined;
  /** errno code when the file could not be opened or read (ENOENT: gone meanwhile; ENOTREG / EISDIR: see `kind`). */
  readonly errorCode?: string;
  readonly error?: unknown;
  /** Set when the entry is not a regular file (it was never opened). */
  readonly kind?: FileKind;
}

/**
 * One listing batch: message names, and for the rare entries that are not regular files (a FIFO,
 * socket, device, symlink or directory named `*.json`) their kind from the directory entry, so
 * they are never opened.
 */
export interface ListedBatch {
  readonly names: string[];
  readonly irregular: ReadonlyMap<string, FileKind> | undefined;
}

/** Enqueue failed: the message is NOT durable; the caller keeps it and retries. */
export class OutboxWriteError extends Error {
  constructor(
    readonly dir: string,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`outbox ${dir}: ${detail}`, options);
    this.name = 'OutboxWriteError';
  }
}

/** Human wording of the disk errors an enqueue can meet. */
const DISK_ERROR_TEXT: Readonly<Record<string, string>> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'I/O error',
  ENOENT: 'directory missing',
  ENOTDIR: 'a path component is not a directory',
};

/** The errno code of a Node fs error, or 'EUNKNOWN'. */
export function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/** True when `file` is a regular file right now (never follows a symlink; any error is false). */
function isRegularFileNow(file: string): boolean {
  try {
    return lstatSync(file, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    return false;
  }
}

/** True only when `file` certainly does not exist right now (lstat said so); false on any error. */
function isGoneNow(file: string): boolean {
  try {
    return lstatSync(file, { throwIfNoEntry: false }) === undefined;
  } catch {
    return false;
  }
}

/** One line describing an error, for logs, `.reason` sidecars and status. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Health changes of the store, for the drain child's `degraded` tag. */
export type StoreHealthEvent =
  { readonly type: 'enqueue.failed'; readonly error: string; readonly code: string } | { readonly type: 'enqueue.succeeded' };

/** The durable store behind one outbox; see the module comment. */
export class OutboxStore<T> implements OutboxPort<T> {
  /** Quarantined files: `<dir>/stuck/`. */
  readonly stuck: StuckDir;
  private dirReady = false;
  private enqueueListeners = new Set<() => void>();
  private healthListeners = new Set<(event: StoreHealthEvent) => void>();
  private lastEnqueueFailed = false;
  /** fsync of the outbox directory, shared by concurrent enqueues (one covers every rename before it). */
  private readonly syncDir: () => Promise<void>;
  private ioActive = 0;
  private readonly ioWaiting: Array<() => void> = [];
  /** Files written since start and files removed since start, for the depth estimate. */
  enqueuedCount = 0;
  /** Messages just written, with their bytes, for the drain to publish without a listing. */
  private readonly fresh = new FreshFiles();
  private unhintedWrites = 0;

  constructor(
    readonly dir: string,
    readonly spec: OutboxKindSpec<T>,
    private readonly log: Logger,
    platform: NodeJS.Platform = process.platform,
  ) {
    this.syncDir = coalescedDirectorySync(dir, platform);
    this.stuck = new StuckDir(dir, this.syncDir, () => {
      this.unhintedWrites += 1;
      this.notifyEnqueued();
    });
  }

  /** Writes `message` durably; resolves only after the file and its directory entry are fsynced. */
  async enqueue(message: T): Promise<void> {
    await this.write(message, MESSAGE_SUFFIX);
    this.notifyEnqueued();
  }

  /** Like `enqueue`, but as `<id>.json.held`: durable, never published until {@link release}. */
  async enqueueHeld(message: T): Promise<void> {
    await this.write(message, HELD_SUFFIX);
  }

  /**
   * Writes `message` as `<id>.json` (tmp → rename) WITHOUT any fsync and wakes the drain. Only for a
   * caller that already holds the message durably elsewhere — the executor's admission journal
   * (docs/executor.md, "Result hand-off") — and keeps that copy until {@link syncQueued} resolved:
   * a crash or power cut before then is answered from the caller's copy, never from this file.
   */
  async enqueueUnsynced(message: T): Promise<void> {
    await this.write(message, MESSAGE_SUFFIX, false);
    this.notifyEnqueued();
  }

  /**
   * Makes a file written by {@link enqueueUnsynced} durable: fsync of `<id>.json`, then of the
   * directory. A file already gone was published (PubAck) and deleted, or quarantined: nothing left
   * to sync.
   */
  async syncQueued(id: string): Promise<void> {
    const file = path.join(this.dir, `${id}${MESSAGE_SUFFIX}`);
    // Usually published and deleted already: a synchronous lstat says so without a thread-pool
    // round trip and an ENOENT error object. Any other answer, an error included, goes on to the
    // open below, which syncs or fails (so the caller keeps the result unqueued).
    if (isGoneNow(file)) return;
    let handle;
    try {
      // 'r+': Windows flushes a file only through a handle with write access.
      handle = await open(file, 'r+');
      await handle.sync();
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return;
      throw err;
    } finally {
      await handle?.close().catch(() => undefined);
    }
    await this.syncDir();
  }

  /** Lets a held message be published (rename to `<id>.json`, directory synced); a missing one is a no-op. */
  async release(id: string): Promise<void> {
    try {
      await rename(path.join(this.dir, `${id}${HELD_SUFFIX}`), path.join(this.dir, `${id}${MESSAGE_SUFFIX}`));
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return;
      throw err;
    }
    await this.syncDir();
    this.unhintedWrites += 1;
    this.notifyEnqueued();
  }

  /** File ids of the held messages (startup recovery releases them). */
  async listHeld(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith(HELD_SUFFIX)).map((n) => n.slice(0, -HELD_SUFFIX.length));
  }

  private async write(message: T, suffix: string, durable = true): Promise<void> {
    const id = this.spec.fileId(message);
    const bytes = this.spec.encode(message);
    try {
      await this.writeDurably(`${id}${suffix}`, bytes, durable);
    } catch (err) {
      const code = errorCode(err);
      const error = new OutboxWriteError(
        this.dir,
        code,
        `cannot write ${id}${suffix}: ${DISK_ERROR_TEXT[code] ?? 'write failed'} (${describeError(err)})`,
        { cause: err },
      );
      this.lastEnqueueFailed = true;
      this.log.error(
        { outbox: this.spec.kind, code, err: describeError(err) },
        'outbox enqueue failed; the caller keeps the message and retries',
      );
      this.emitHealth({ type: 'enqueue.failed', error: error.message, code });
      throw error;
    }
    this.enqueuedCount += 1;
    if (suffix === MESSAGE_SUFFIX) this.fresh.remember(`${id}${suffix}`, Buffer.from(bytes, 'utf8'), Date.now());
    if (this.lastEnqueueFailed) {
      this.lastEnqueueFailed = false;
      this.emitHealth({ type: 'enqueue.succeeded' });
    }
  }

  /**
   * True when a message with file id `id` waits in the outbox (`<id>.json`, `<id>.retry-<n>.json`)
   * or in `stuck/`; read-only. Startup recovery asks before queuing a stand-in result under the
   * same id, which would otherwise replace the real one. Rejects on disk errors other than ENOENT.
   */
  async has(id: string): Promise<boolean> {
    if (await entryExists(path.join(this.dir, `${id}${MESSAGE_SUFFIX}`))) return true;
    if (await entryExists(path.join(this.dir, `${id}${HELD_SUFFIX}`))) return true;
    if (await entryExists(path.join(this.dir, `${id}.retry-1${MESSAGE_SUFFIX}`))) return true;
    return this.stuck.holds(id);
  }

  /** Calls `listener` after each successful enqueue (wakes the drain); returns the unsubscribe function. */
  onEnqueued(listener: () => void): () => void {
    this.enqueueListeners.add(listener);
    return () => this.enqueueListeners.delete(listener);
  }

  /** Calls `listener` when enqueue starts or stops failing; returns the unsubscribe function. */
  onHealth(listener: (event: StoreHealthEvent) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /** True while the last enqueue failed. */
  get enqueueFailing(): boolean {
    return this.lastEnqueueFailed;
  }

  /** Creates the directory (and parents); cheap once it succeeded. Throws on failure (the drain retries each tick). */
  async ensureDir(): Promise<void> {
    if (this.dirReady) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.dirReady = true;
  }

  /**
   * Streams the directory and yields batches of at most `batchSize` message file names, unsorted
   * (the drain reads them with {@link readWithStat} and sorts by the mtime it gets from the same
   * open). The type comes from the directory entry itself (no extra syscall): entries that are not
   * regular files are listed with their kind so the drain can quarantine them unopened.
   */
  async *listNameBatches(batchSize: number, skip?: (name: string) => boolean): AsyncGenerator<ListedBatch> {
    const dir = await this.openDir();
    let names: string[] = [];
    let irregular: Map<string, FileKind> | undefined;
    try {
      for await (const entry of dir) {
        const name = entry.name;
        if (!name.endsWith(MESSAGE_SUFFIX)) continue;
        if (skip?.(name)) continue;
        names.push(name);
        if (!entry.isFile()) (irregular ??= new Map()).set(name, fileKind(entry));
        if (names.length >= batchSize) {
          yield { names, irregular };
          names = [];
          irregular = undefined;
        }
      }
      if (names.length > 0) yield { names, irregular };
    } finally {
      await dir.close().catch(() => undefined);
    }
  }

  /**
   * open → fstat → read → close with plain callbacks (the promise FileHandle API costs measurably
   * more per file): one open gives both the mtime for ordering and, up to `maxBytes`, the content.
   * `kind` is what the directory entry said: anything but `file` is `lstat`ed and, unless that
   * shows a regular file, never opened. The open uses `O_NONBLOCK | O_NOFOLLOW`, so a file swapped
   * for a FIFO or symlink after the listing fails or is caught by the `fstat` instead of blocking.
   * Never rejects: failures come back in `errorCode`.
   */
  readWithStat(name: string, maxBytes: number, kind: FileKind = 'file'): Promise<PrefetchedFile> {
    return this.withIoSlot(() => this.readWithStatNow(name, maxBytes, kind));
  }

  private readWithStatNow(name: string, maxBytes: number, kind: FileKind): Promise<PrefetchedFile> {
    const file = path.join(this.dir, name);
    return new Promise((resolve) => {
      const failed = (err: NodeJS.ErrnoException, mtimeMs = 0): void =>
        resolve({ name, mtimeMs, bytes: undefined, errorCode: errorCode(err), error: err });
      const irregular = (found: FileKind, mtimeMs: number): void =>
        resolve({ name, mtimeMs, bytes: undefined, errorCode: found === 'directory' ? 'EISDIR' : 'ENOTREG', kind: found });
      const openAndRead = (): void => {
        openFd(file, SAFE_READ_FLAGS, (openErr, fd) => {
          if (openErr) return openErr.code === 'ELOOP' ? irregular('symlink', 0) : failed(openErr);
          fstat(fd, (statErr, st) => {
            if (statErr) {
              closeFd(fd, () => undefined);
              return failed(statErr);
            }
            if (!st.isFile()) {
              closeFd(fd, () => undefined);
              return irregular(fileKind(st), st.mtimeMs);
            }
            if (st.size > maxBytes) {
              closeFd(fd, () => undefined);
              return resolve({ name, mtimeMs: st.mtimeMs, bytes: undefined });
            }
            const buffer = Buffer.allocUnsafe(st.size);
            const step = (offset: number): void => {
              if (offset >= buffer.length) {
                closeFd(fd, () => undefined);
                return resolve({ name, mtimeMs: st.mtimeMs, bytes: buffer });
              }
              readFd(fd, buffer, offset, buffer.length - offset, offset, (readErr, n) => {
                if (readErr) {
                  closeFd(fd, () => undefined);
                  return failed(readErr, st.mtimeMs);
                }
                if (n === 0) {
                  closeFd(fd, () => undefined);
                  return resolve({ name, mtimeMs: st.mtimeMs, bytes: buffer.subarray(0, offset) });
                }
                step(offset + n);
              });
            };
            step(0);
          });
        });
      };
      if (kind === 'file') return openAndRead();
      lstatCb(file, (statErr, st) => {
        if (statErr) return failed(statErr);
        const found = fileKind(st);
        if (found === 'file') return openAndRead();
        irregular(found, st.mtimeMs);
      });
    });
  }

  /**
   * Removes `*.json.tmp` files older than `maxAgeMs`: an enqueue that died before its rename never
   * resolved, so its caller still holds the message. Returns how many were removed.
   */
  async removeStaleTmp(maxAgeMs: number = STALE_TMP_MS, now: number = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(TMP_SUFFIX)) continue;
      const file = path.join(this.dir, name);
      const info = await lstat(file).catch(() => undefined);
      if (info === undefined || now - info.mtimeMs < maxAgeMs) continue;
      await unlink(file).then(
        () => (removed += 1),
        () => undefined,
      );
    }
    if (removed > 0) this.log.info({ outbox: this.spec.kind, removed }, 'removed unfinished enqueue files left by a crash');
    return removed;
  }

  /** Counts message files without keeping their names (the depth estimate at the start of a pass). */
  async countMessages(): Promise<number> {
    const dir = await this.openDir();
    let count = 0;
    for await (const entry of dir) if (entry.name.endsWith(MESSAGE_SUFFIX) && !entry.isDirectory()) count += 1;
    return count;
  }

  /** Reads one message file; rejects with `NotRegularFileError` (code ENOTREG / EISDIR) for anything but a regular file. */
  read(name: string): Promise<Buffer> {
    return readRegularFile(path.join(this.dir, name));
  }

  /**
   * The oldest message written since the last call, with its bytes, that `usable` accepts and that
   * is still on disk as a regular file (checked now, synchronously: a pass that listed and
   * delivered it while its durable write was finishing has deleted it). Hints refused are dropped:
   * their files are listed as usual. Undefined when none is left.
   */
  takeFresh(usable: (name: string) => boolean): PrefetchedFile | undefined {
    return this.fresh.take((name) => usable(name) && isRegularFileNow(path.join(this.dir, name)));
  }

  /** Hints waiting to be taken by a pass. */
  get freshWaiting(): number {
    return this.fresh.size;
  }

  /**
   * Message files this process put into the directory without a hint, since start: too big or
   * pushed out by newer hints, released from held, moved back from `stuck/`. Only a listing finds
   * those.
   */
  get unhinted(): number {
    return this.fresh.dropped + this.unhintedWrites;
  }

  /** Deletes a delivered file; a file already gone counts as deleted. */
  remove(name: string): Promise<void> {
    this.fresh.forget(name);
    return this.withIoSlot(async () => {
      try {
        await unlink(path.join(this.dir, name));
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    });
  }

  /** Runs `op` when fewer than {@link DRAIN_IO_CONCURRENCY} drain operations are in flight. */
  private async withIoSlot<R>(op: () => Promise<R>): Promise<R> {
    if (this.ioActive >= DRAIN_IO_CONCURRENCY) await new Promise<void>((resolve) => this.ioWaiting.push(resolve));
    else this.ioActive += 1;
    try {
      return await op();
    } finally {
      // The slot passes straight to the next waiter (ioActive unchanged), or is freed.
      const next = this.ioWaiting.shift();
      if (next !== undefined) next();
      else this.ioActive -= 1;
    }
  }

  /**
   * tmp → write → fsync → rename → directory fsync. With `durable` false: no fsync at all, and the
   * write and rename run synchronously — a few kilobytes into the page cache take tens of
   * microseconds, while four thread-pool round trips take milliseconds on a loaded machine.
   */
  private async writeDurably(name: string, text: string, durable = true): Promise<void> {
    if (!this.dirReady) await this.ensureDir();
    const final = path.join(this.dir, name);
    const tmp = `${final}.tmp`;
    if (!durable) {
      try {
        writeFileSync(tmp, text, { encoding: 'utf8', mode: 0o600 });
        renameSync(tmp, final);
      } catch (err) {
        try {
          unlinkSync(tmp);
        } catch {
          // Never created, or already gone.
        }
        if (errorCode(err) === 'ENOENT') this.dirReady = false;
        throw err;
      }
      return;
    }
    let handle;
    try {
      handle = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
      await handle.writeFile(text, 'utf8');
      if (durable) await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(tmp, final);
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      if (errorCode(err) === 'ENOENT') this.dirReady = false;
      throw err;
    }
    if (durable) await this.syncDir();
  }

  /** Opens the directory for listing; a vanished directory is created again on the next `ensureDir`. */
  private async openDir() {
    try {
      return await opendir(this.dir, { bufferSize: LIST_BUFFER_ENTRIES });
    } catch (err) {
      if (errorCode(err) === 'ENOENT') this.dirReady = false;
      throw err;
    }
  }

  private emitHealth(event: StoreHealthEvent): void {
    for (const listener of [...this.healthListeners]) listener(event);
  }

  private notifyEnqueued(): void {
    for (const listener of [...this.enqueueListeners]) listener();
  }
}
