/**
 * What a drain remembers about files from pass to pass, for as long as the process lives (so a
 * restart of the drain child keeps every failure streak, §9's backoff "in memory"): the parked
 * files — failures, waits, when they are due again — and the files some pass is working on,
 * which are never picked twice.
 *
 * @example
 * const parked = new ParkedFiles();
 * parked.park('a.json', { failures: 1, lastError: 'no PubAck within 30000 ms', waits: 0, dueAt: now + 1_000, mtimeMs });
 * parked.notDue('a.json', now); // the entry, until its backoff is over
 */

/** A file waiting out its backoff. */
export interface ParkedFile {
  readonly failures: number;
  readonly lastError: string;
  /** Attempts that found the stream/store missing (backoff only, never quarantine). */
  readonly waits: number;
  /** When it may be read again, on the pass clock. */
  readonly dueAt: number;
  /** Its mtime, so a parked file still counts toward `oldest_age_ms`. */
  readonly mtimeMs: number;
}

/** See the module comment. */
export class ParkedFiles {
  private readonly parked = new Map<string, ParkedFile>();
  private readonly busy = new Set<string>();

  /** The parked entry of `name`, if any. */
  get(name: string): ParkedFile | undefined {
    return this.parked.get(name);
  }

  /** The parked entry of `name` when its backoff is not over at `now`, else undefined. */
  notDue(name: string, now: number): ParkedFile | undefined {
    const entry = this.parked.get(name);
    return entry !== undefined && entry.dueAt > now ? entry : undefined;
  }

  park(name: string, entry: ParkedFile): void {
    this.parked.set(name, entry);
  }

  /** Forgets the streak of `name` (delivered, quarantined). */
  forget(name: string): void {
    this.parked.delete(name);
  }

  /** Makes every parked file due now, keeping the failure counts (a reconnect, §4 "woken on reconnect"). */
  wakeAll(): void {
    for (const [name, entry] of this.parked) this.parked.set(name, { ...entry, dueAt: 0 });
  }

  /** True while some pass has a live life cycle for `name`. */
  isBusy(name: string): boolean {
    return this.busy.has(name);
  }

  claim(name: string): void {
    this.busy.add(name);
  }

  release(name: string): void {
    this.busy.delete(name);
  }
}
