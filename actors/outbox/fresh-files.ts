/**
 * Messages this process has just written to an outbox, with their bytes: the drain publishes them
 * at once, without listing the directory or reading the file back (docs/outbox.md, "Fresh
 * messages"). A hint only, bounded in count and bytes: a hint that is dropped (the bound, a
 * restart) leaves its file on disk, where the next listing finds it as before.
 *
 * @example
 * const fresh = new FreshFiles();
 * fresh.remember('r-1.json', bytes, Date.now());
 * fresh.take((name) => !parked.isBusy(name)); // { name: 'r-1.json', mtimeMs, bytes } or undefined
 */
import type { PrefetchedFile } from './outbox-store.js';

/** Hints kept at most: about one publish window of results. */
export const OUTBOX_FRESH_MAX_FILES = 64;
/** Bytes of hints kept at most; a bigger message is not hinted (it is listed and read as before). */
export const OUTBOX_FRESH_MAX_BYTES = 1024 * 1024;
/** One message bigger than this is never hinted (the drain's read-ahead limit). */
export const OUTBOX_FRESH_MAX_FILE_BYTES = 64 * 1024;

/** See the module comment. */
export class FreshFiles {
  private readonly files = new Map<string, PrefetchedFile & { readonly bytes: Buffer }>();
  private bytes = 0;
  /** Messages written but not hinted (too big) or whose hint made room for newer ones, since start. */
  dropped = 0;

  /** Hints held now. */
  get size(): number {
    return this.files.size;
  }

  /** Remembers a message just written as `name`; the oldest hints make room (their files stay listed). */
  remember(name: string, bytes: Buffer, mtimeMs: number): void {
    this.forget(name);
    if (bytes.length > OUTBOX_FRESH_MAX_FILE_BYTES) {
      this.dropped += 1;
      return;
    }
    while (this.files.size >= OUTBOX_FRESH_MAX_FILES || (this.files.size > 0 && this.bytes + bytes.length > OUTBOX_FRESH_MAX_BYTES)) {
      const oldest = this.files.keys().next().value as string;
      this.forget(oldest);
      this.dropped += 1;
    }
    this.files.set(name, { name, mtimeMs, bytes });
    this.bytes += bytes.length;
  }

  /** Drops the hint of `name` (its file was removed, renamed or rewritten). */
  forget(name: string): void {
    const file = this.files.get(name);
    if (file === undefined) return;
    this.files.delete(name);
    this.bytes -= file.bytes.length;
  }

  /**
   * The oldest hint `usable` accepts, taken out; hints it refuses are dropped (the listing deals
   * with their files). Undefined when none is left.
   */
  take(usable: (name: string) => boolean): PrefetchedFile | undefined {
    for (const file of this.files.values()) {
      this.forget(file.name);
      if (usable(file.name)) return file;
    }
    return undefined;
  }
}
