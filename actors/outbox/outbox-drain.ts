/**
 * The drain of one outbox for the life of the process: what it remembers between passes (parked
 * files and their failure streaks, actors/outbox/parked-files.ts; the status figures,
 * actors/outbox/drain-stats.ts) and the passes it runs (actors/outbox/drain-pass.ts), one walk
 * over the directory each. It lives as long as its store, so a restart of the drain child keeps
 * every failure streak.
 *
 * @example
 * const drain = new OutboxDrain(store, log);
 * const pass = drain.runPass({ publish, runnerFactory, window: 64, ackTimeoutMs: 30_000 });
 * const summary = await pass.done;
 * drain.status().depth; // files left on disk
 */
import type { Logger } from 'pino';
import { DrainPass, type DrainPassOptions } from './drain-pass.js';
import { DrainStats, type OutboxStatus } from './drain-stats.js';
import type { OutboxStore } from './outbox-store.js';
import { ParkedFiles } from './parked-files.js';

/**
 * The longest a drain goes without listing its directory while passes run: files put there from
 * outside are found within this (the idle safety tick of an empty outbox is as long).
 */
export const OUTBOX_LISTING_MAX_AGE_MS = 30_000;

/** See the module comment. */
export class OutboxDrain<T> {
  private readonly parked = new ParkedFiles();
  private readonly stats = new DrainStats();
  private activePass: DrainPass<T> | undefined;
  /**
   * True after a pass left nothing behind (every listed file delivered or quarantined, nothing
   * parked, every message written meanwhile hinted): the directory then holds only fresh messages,
   * so the next pass may publish those first without breaking "oldest first". False at start.
   */
  private caughtUp = false;
  /** When the last listing began (wall clock) and the store's unhinted count then. */
  private lastListing: { readonly at: number; readonly unhinted: number } | undefined;

  /**
   * @param wallNow the wall clock (epoch ms) status ages are measured on: file mtimes are wall-clock
   *   times, so this is not the child's (possibly simulated) timer clock.
   */
  constructor(
    readonly store: OutboxStore<T>,
    private readonly log: Logger,
    private readonly wallNow: () => number = Date.now,
  ) {}

  /** The status summary as of now. */
  status(): OutboxStatus {
    const now = this.wallNow();
    return this.stats.status(now, this.store.enqueuedCount, this.activePass?.progress(now));
  }

  /** Refreshes the stuck count (cheap: one readdir of `stuck/`). */
  async refreshStuck(): Promise<void> {
    this.stats.setStuck(await this.store.stuck.count());
  }

  /**
   * Makes every parked file due now (failure counts kept): a reconnect may be exactly what they
   * waited for (contract §4: "woken on reconnect").
   */
  wakeParked(): void {
    this.parked.wakeAll();
  }

  /** Failures remembered for `name` (tests and status). */
  failuresOf(name: string): number {
    return this.parked.get(name)?.failures ?? 0;
  }

  /** Attempts of `name` that found the stream/store missing (tests and status). */
  waitsOf(name: string): number {
    return this.parked.get(name)?.waits ?? 0;
  }

  /** Starts one walk over the directory; see {@link DrainPass}. */
  runPass(options: DrainPassOptions<T>): DrainPass<T> {
    const now = this.wallNow();
    const last = this.lastListing;
    // Only a pass woken by a message of this process (a hint waits) may skip the listing. Files
    // dropped in from outside (another process, an operator) are found by a listing: the safety
    // tick's pass, a wake-up without a write, and at least every OUTBOX_LISTING_MAX_AGE_MS.
    const skipListing =
      this.caughtUp &&
      this.store.freshWaiting > 0 &&
      last !== undefined &&
      last.unhinted === this.store.unhinted &&
      now - last.at >= 0 &&
      now - last.at < OUTBOX_LISTING_MAX_AGE_MS;
    if (!skipListing) this.lastListing = { at: now, unhinted: this.store.unhinted };
    const pass = new DrainPass<T>(
      {
        store: this.store,
        parked: this.parked,
        stats: this.stats,
        log: this.log,
        wallNow: this.wallNow,
        status: () => this.status(),
        freshFirst: this.caughtUp,
        skipListing,
        settled: (ended, leftNothing) => {
          this.caughtUp = leftNothing;
          if (this.activePass === ended) this.activePass = undefined;
        },
      },
      options,
    );
    this.activePass = pass;
    return pass;
  }
}
