/**
 * The listing side of a drain pass: streams the directory in batches of `listBatch` names, reads
 * each batch ahead (one open per file gives the mtime and, for small files, the bytes), sorts it
 * oldest first and queues it for the publish window. The next batch is read while the current one
 * publishes, so the file system always has work queued, and never more than about two batches
 * are in memory whatever the backlog.
 *
 * @example
 * const walk = new DrainWalk(store, 256, Date.now, { fetched: pump, failed: fail, seen: stats.seenMtime });
 * walk.start((name) => parked.isBusy(name));
 * walk.readAhead(); // later: walk.next() until undefined, walk.finished when all is listed
 */
import type { ListedBatch, OutboxStore, PrefetchedFile } from './outbox-store.js';

/** Files up to this size are read ahead of their turn (bigger ones are read when published). */
export const OUTBOX_PREFETCH_MAX_BYTES = 64 * 1024;

/** What a walk tells its pass. */
export interface WalkEvents {
  /** A batch is queued (or the listing ended): the pass can start more messages. */
  fetched(): void;
  /** The directory could not be listed or read: the pass fails. */
  failed(err: unknown): void;
  /** A listed file has this mtime (for `oldest_age_ms`). */
  seen(mtimeMs: number): void;
}

/** See the module comment. */
export class DrainWalk<T> {
  /** Files listed so far. */
  listed = 0;
  private lister: AsyncGenerator<ListedBatch> | undefined;
  private queue: PrefetchedFile[] = [];
  private listingDone = false;
  private fetching = false;
  private fetchStartedAt = 0;

  constructor(
    private readonly store: OutboxStore<T>,
    private readonly listBatch: number,
    private readonly wallNow: () => number,
    private readonly events: WalkEvents,
  ) {}

  /** Opens the listing; names for which `skip` is true are never read (busy, or parked and not due). */
  start(skip: (name: string) => boolean): void {
    this.lister = this.store.listNameBatches(this.listBatch, skip);
  }

  /** The next read-ahead file, oldest first within its batch. */
  next(): PrefetchedFile | undefined {
    return this.queue.shift();
  }

  /** Files read ahead and waiting for the window. */
  get waiting(): number {
    return this.queue.length;
  }

  /** True once every name is listed and every read-ahead file was taken. */
  get finished(): boolean {
    return this.listingDone && !this.fetching && this.queue.length === 0;
  }

  /** Reads the next batch when the queue runs low and nothing is being read. */
  readAhead(): void {
    if (this.queue.length <= this.listBatch / 2 && !this.listingDone && !this.fetching && this.lister !== undefined)
      void this.fetchBatch(this.lister);
  }

  /** Lists nothing: the walk is over before it began (a pass of fresh messages only). */
  skip(): void {
    this.listingDone = true;
  }

  /** Drops what was read ahead (a pass that only finishes what is in flight). */
  clear(): void {
    this.queue = [];
  }

  /** Closes the listing. */
  close(): void {
    void this.lister?.return(undefined).catch(() => undefined);
  }

  /** mtime of the oldest read-ahead file, or null. */
  oldestMtime(): number | null {
    let oldest: number | null = null;
    for (const file of this.queue) if (file.mtimeMs > 0 && (oldest === null || file.mtimeMs < oldest)) oldest = file.mtimeMs;
    return oldest;
  }

  /** When the batch now being read started (wall clock), or undefined when none is. */
  readingSince(): number | undefined {
    return this.fetching ? this.fetchStartedAt : undefined;
  }

  private async fetchBatch(lister: AsyncGenerator<ListedBatch>): Promise<void> {
    this.fetching = true;
    this.fetchStartedAt = this.wallNow();
    try {
      const next = await lister.next();
      if (next.done === true) this.listingDone = true;
      else {
        // One open per file gives the mtime (oldest first within the batch) and the bytes; entries
        // that are not regular files are never opened (their kind comes from the listing).
        const { names, irregular } = next.value;
        const files = await Promise.all(
          names.map((name) => this.store.readWithStat(name, OUTBOX_PREFETCH_MAX_BYTES, irregular?.get(name) ?? 'file')),
        );
        files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
        this.listed += files.length;
        for (const file of files) {
          if (file.mtimeMs > 0) this.events.seen(file.mtimeMs);
          this.queue.push(file);
        }
      }
    } catch (err) {
      this.fetching = false;
      this.events.failed(err);
      return;
    }
    this.fetching = false;
    this.events.fetched();
  }
}
