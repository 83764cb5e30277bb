/**
 * One pass of an outbox drain: takes the files its walk (actors/outbox/drain-walk.ts) lists in
 * bounded, read-ahead, oldest-first batches, runs one message life cycle per due file with up to `window` messages
 * publishing or awaiting their PubAck and, independently, up to `maxDeleting` delivered files
 * being unlinked, and carries out what each life cycle asks (publish, delete, park, quarantine).
 * A failing file is parked with its backoff (1, 2, 4 … s, cap 300 s, in memory) and never blocks
 * the others.
 *
 * Deletes run outside the publish window on purpose: unlinking freshly fsynced files is the slow
 * part of a drain here, so the window is kept full of publishes while the file system catches up.
 *
 * @example
 * const pass = new DrainPass({ store, parked, stats, log, wallNow: Date.now }, { publish, runnerFactory, window: 64 });
 * const summary = await pass.done;
 */
import type { Logger } from 'pino';
import { OUTBOX_BACKOFF_CAP_MS, OUTBOX_WARN_AFTER_FAILURES, PUB_ACK_TIMEOUT_MS } from '../../contract/index.js';
import { outboxBackoffMs } from '../../domain/outbox-backoff.js';
import type { DrainStats, PassProgress } from './drain-stats.js';
import type { OutboxMessageHandle, OutboxMessageRunner, OutboxMessageRunnerFactory, TimerClock } from './message-runner.js';
import type { ParkedFiles } from './parked-files.js';
import { publishMessage, type PrepareFn, type PublishDeps, type PublishFn } from './publish-message.js';
import { DrainWalk } from './drain-walk.js';
import { describeError, type OutboxStore, type PrefetchedFile } from './outbox-store.js';
import type { OutboxStatus } from './drain-stats.js';

/** Messages publishing or awaiting their PubAck at once (issue #3: default 64). */
export const OUTBOX_PUBLISH_WINDOW = 64;
/** Delivered files being unlinked at once, outside the publish window. */
export const OUTBOX_MAX_DELETING = 192;
/** Files stat'ed and sorted per listing batch (the bound of "oldest first"). */
export const OUTBOX_LIST_BATCH = 256;
/**
 * Fresh messages (written by this process during the pass, published from memory without a
 * listing) one pass takes at most; later ones are listed by the next pass. Bounds the names the
 * pass remembers so its listing skips them.
 */
export const OUTBOX_FRESH_PER_PASS = 4096;
/** Status updates from a running pass are sent at most this often. */
export const OUTBOX_PROGRESS_INTERVAL_MS = 250;

/** Options of one pass. */
export interface DrainPassOptions<T> {
  readonly publish: PublishFn;
  readonly prepare?: PrepareFn<T>;
  readonly runnerFactory: OutboxMessageRunnerFactory;
  readonly window?: number;
  readonly maxDeleting?: number;
  /** The PubAck bound, enforced by the message life cycle on `clock`. */
  readonly ackTimeoutMs?: number;
  readonly listBatch?: number;
  /** Timers of the message actors (the drain child's clock; a SimulatedClock in tests). */
  readonly clock?: TimerClock;
  /** Milliseconds clock for backoff due times; the clock's `now()` when it has one. */
  readonly now?: () => number;
  readonly onProgress?: (status: OutboxStatus) => void;
}

/** What one pass did. */
export interface PassSummary {
  readonly listed: number;
  readonly delivered: number;
  readonly quarantined: number;
  /** Listed files skipped because their backoff was not over. */
  readonly notDue: number;
  /** True when the pass was stopped before it finished. */
  readonly stopped: boolean;
}

/** The drain's state a pass works with (it outlives the pass). */
export interface PassDeps<T> {
  readonly store: OutboxStore<T>;
  readonly parked: ParkedFiles;
  readonly stats: DrainStats;
  readonly log: Logger;
  /** Wall clock (epoch ms) of the stall figure; mtimes are wall-clock times too. */
  readonly wallNow: () => number;
  /** The status the pass reports with its progress. */
  status(): OutboxStatus;
  /**
   * True when the directory held nothing older than the messages written since (the last pass
   * left nothing behind): fresh messages may go out before the listing.
   */
  readonly freshFirst: boolean;
  /**
   * True when a listing cannot find anything the fresh path does not bring (caught up, nothing
   * unhinted written since, the last listing recent): the pass publishes fresh messages only.
   */
  readonly skipListing: boolean;
  /** Called once, when the pass has settled; `leftNothing` as {@link DrainPass.leftNothing}. */
  settled(pass: DrainPass<T>, leftNothing: boolean): void;
}

/** One message of this pass. */
interface MessageRecord {
  readonly name: string;
  readonly mtimeMs: number;
  handle: OutboxMessageHandle | undefined;
  phase: 'window' | 'deleting' | 'closing';
  sentAt: number;
  closed: boolean;
  /** Read ahead; consumed by the first publish attempt (a retry reads the file again). */
  prefetched: PrefetchedFile | undefined;
}

/** See the module comment. */
export class DrainPass<T> {
  readonly done: Promise<PassSummary>;
  private resolveDone!: (summary: PassSummary) => void;
  private rejectDone!: (err: unknown) => void;
  private readonly records = new Map<string, MessageRecord>();
  private readonly walk: DrainWalk<T>;
  private started = false;
  private stopped = false;
  private draining = false;
  private settled = false;
  private pumpScheduled = false;
  private failure: { error: unknown } | undefined;
  private inWindow = 0;
  private deleting = 0;
  private delivered = 0;
  private quarantinedCount = 0;
  private notDue = 0;
  private lastProgressAt = -Infinity;
  /** Wall-clock ms of the pass start or of the last settled message (the stall figure). */
  private lastSettledAt: number;
  private readonly window: number;
  private readonly maxDeleting: number;
  private readonly listBatch: number;
  private readonly now: () => number;
  private readonly runner: OutboxMessageRunner;
  private readonly publishDeps: PublishDeps<T>;
  /** Names taken as fresh messages: the listing may have read them ahead, and skips them. */
  private readonly freshTaken = new Set<string>();
  private freshAllowed: boolean;
  private parkedCount = 0;
  private readonly unhintedAtStart: number;
  private readonly unwatchEnqueued: () => void;

  constructor(
    private readonly deps: PassDeps<T>,
    private readonly options: DrainPassOptions<T>,
  ) {
    this.window = Math.max(1, options.window ?? OUTBOX_PUBLISH_WINDOW);
    this.maxDeleting = Math.max(1, options.maxDeleting ?? OUTBOX_MAX_DELETING);
    this.listBatch = Math.max(1, options.listBatch ?? OUTBOX_LIST_BATCH);
    const ackTimeoutMs = options.ackTimeoutMs ?? PUB_ACK_TIMEOUT_MS;
    const clockNow = (options.clock as { now?: () => number } | undefined)?.now;
    this.now = options.now ?? (typeof clockNow === 'function' ? () => clockNow.call(options.clock) : Date.now);
    this.lastSettledAt = deps.wallNow();
    const store = deps.store;
    this.walk = new DrainWalk(store, this.listBatch, deps.wallNow, {
      fetched: () => this.schedulePump(),
      failed: (err) => this.fail(err),
      seen: (mtimeMs) => deps.stats.seenMtime(mtimeMs),
    });
    this.publishDeps = {
      spec: store.spec,
      read: (name) => store.read(name),
      publish: options.publish,
      prepare: options.prepare,
      ackTimeoutMs,
      now: this.now,
    };
    this.runner = options.runnerFactory(
      {
        publish: (name) => this.publishEffect(name),
        acked: (name) => this.ackedEffect(name),
        remove: (name) => this.removeEffect(name),
        park: (name, failures, lastError, waits) => this.parkEffect(name, failures, lastError, waits),
        quarantine: (name, reason) => this.quarantineEffect(name, reason),
        release: (name) => this.releaseEffect(name),
      },
      { ackTimeoutMs, ...(options.clock === undefined ? {} : { clock: options.clock }) },
    );
    this.done = new Promise<PassSummary>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A message written while the pass runs is published at once from memory (store.takeFresh).
    this.unwatchEnqueued = store.onEnqueued(() => this.schedulePump());
    this.freshAllowed = deps.freshFirst;
    this.unhintedAtStart = store.unhinted;
    void this.begin();
  }

  /** Oldest unsettled due message and stall time at wall-clock `now`, for the drain's status. */
  progress(now: number): PassProgress {
    let oldest = this.walk.oldestMtime();
    for (const record of this.records.values())
      if (record.mtimeMs > 0 && (oldest === null || record.mtimeMs < oldest)) oldest = record.mtimeMs;
    const readingSince = this.walk.readingSince();
    const holdsWork = this.records.size > 0 || this.walk.waiting > 0 || readingSince !== undefined;
    // A batch being read with nothing else held: stalled only from when that read started.
    const onlyReading = readingSince !== undefined && this.records.size === 0 && this.walk.waiting === 0;
    return {
      oldestDueMtimeMs: oldest,
      stalledMs: holdsWork && !this.settled ? now - Math.max(this.lastSettledAt, onlyReading ? readingSince : 0) : 0,
    };
  }

  /** Stops at once: no new publishes; late PubAcks still delete their files. */
  stop(): void {
    if (this.settled) return;
    this.stopped = true;
    for (const record of this.records.values()) {
      record.closed = true;
      record.handle?.stop();
      this.deps.parked.release(record.name);
    }
    this.records.clear();
    this.inWindow = 0;
    this.deleting = 0;
    this.deps.stats.inFlight(0);
    this.walk.close();
    this.settle();
  }

  /** Stops starting messages and resolves `done` when the ones in flight have settled. */
  finishInFlight(): Promise<PassSummary> {
    this.draining = true;
    this.walk.clear();
    this.schedulePump();
    return this.done;
  }

  private async begin(): Promise<void> {
    // Fresh messages go out before the directory is counted and listed: they need neither.
    this.schedulePump();
    if (this.deps.skipListing) {
      this.walk.skip();
      this.started = true;
      return;
    }
    try {
      const { store, stats, parked } = this.deps;
      const enqueued = store.enqueuedCount;
      const depth = await store.countMessages();
      const stuck = await store.stuck.count();
      stats.passStarted({ enqueued, depth, stuck });
      if (this.stopped || this.settled) return;
      const now = this.now();
      this.walk.start((name) => {
        if (parked.isBusy(name)) return true;
        const waiting = parked.notDue(name, now);
        if (waiting === undefined) return false;
        this.notDue += 1;
        stats.seenMtime(waiting.mtimeMs);
        return true;
      });
      this.started = true;
      this.schedulePump();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    this.failure = { error: err };
    this.stop();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.unwatchEnqueued();
    this.deps.settled(this, this.leftNothing());
    this.emitProgress(true);
    if (this.failure !== undefined) {
      this.rejectDone(this.failure.error);
      return;
    }
    this.resolveDone({
      listed: this.walk.listed,
      delivered: this.delivered,
      quarantined: this.quarantinedCount,
      notDue: this.notDue,
      stopped: this.stopped,
    });
  }

  /**
   * True when the pass ended with nothing left behind: listed to the end, nothing parked or not yet
   * due, and every message written meanwhile hinted (so still to come as a fresh message).
   */
  private leftNothing(): boolean {
    return (
      !this.stopped &&
      this.failure === undefined &&
      this.walk.finished &&
      this.notDue === 0 &&
      this.parkedCount === 0 &&
      this.deps.store.unhinted === this.unhintedAtStart
    );
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.settled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.settled || this.stopped) return;
    if (!this.draining) {
      // Once the listing is over, whatever is still hinted was written during this pass.
      if (this.started && this.walk.finished) this.freshAllowed = true;
      if (this.freshAllowed) this.startFresh();
      if (!this.started) return;
      while (this.inWindow < this.window && this.deleting < this.maxDeleting && this.walk.waiting > 0) {
        const file = this.walk.next() as PrefetchedFile;
        // Taken fresh (and maybe delivered and deleted since): what was read ahead is stale.
        if (!this.freshTaken.has(file.name)) this.startMessage(file);
      }
      // Read the next batch while this one publishes, so the file system always has work queued.
      this.walk.readAhead();
    }
    const listingOver = this.draining || (this.started && this.walk.finished);
    if (listingOver && this.records.size === 0) this.settle();
    else this.emitProgress(false);
  }

  /** Starts the fresh messages the window has room for (store.takeFresh: still on disk, not busy, not parked). */
  private startFresh(): void {
    const { parked, store, stats } = this.deps;
    const now = this.now();
    const usable = (name: string): boolean => !parked.isBusy(name) && parked.notDue(name, now) === undefined;
    while (this.inWindow < this.window && this.deleting < this.maxDeleting && this.freshTaken.size < OUTBOX_FRESH_PER_PASS) {
      const file = store.takeFresh(usable);
      if (file === undefined) return;
      this.freshTaken.add(file.name);
      stats.seenMtime(file.mtimeMs);
      this.startMessage(file);
    }
  }

  private startMessage(file: PrefetchedFile): void {
    const { parked } = this.deps;
    if (parked.isBusy(file.name)) return;
    if (parked.notDue(file.name, this.now()) !== undefined) {
      this.notDue += 1;
      return;
    }
    const prior = parked.get(file.name);
    const record: MessageRecord = {
      name: file.name,
      mtimeMs: file.mtimeMs,
      handle: undefined,
      phase: 'window',
      sentAt: 0,
      closed: false,
      prefetched: file,
    };
    parked.claim(file.name);
    this.records.set(file.name, record);
    this.inWindow += 1;
    record.handle = this.runner.start(
      file.name,
      prior === undefined ? undefined : { failures: prior.failures, lastError: prior.lastError, waits: prior.waits },
    );
    record.handle.send(prior === undefined ? { type: 'publish.start' } : { type: 'backoff.elapsed' });
  }

  private publishEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    const prefetched = record.prefetched;
    record.prefetched = undefined;
    const attempt = {
      name,
      prefetched,
      closed: () => record.closed,
      report: (event: Parameters<OutboxMessageHandle['send']>[0]) => record.handle?.send(event),
      sent: (at: number) => {
        record.sentAt = at;
      },
    };
    void publishMessage(attempt, this.publishDeps).then((outcome) => {
      // Acked after the life cycle let go (ack timeout, pause): the stream has it, so drop the
      // file unless another attempt already owns it (that resend is de-duplicated downstream).
      if (outcome !== 'lateAck' || this.deps.parked.isBusy(name)) return;
      this.deps.parked.forget(name);
      void this.deps.store.remove(name).catch(() => undefined);
    });
  }

  private ackedEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.deps.stats.ackLatency(this.now() - record.sentAt);
    this.inWindow -= 1;
    this.deleting += 1;
    record.phase = 'deleting';
    this.schedulePump();
  }

  private removeEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.deps.store.remove(name).then(
      () => {
        if (!record.closed) record.handle?.send({ type: 'file.deleted' });
      },
      (err: unknown) => {
        if (!record.closed) record.handle?.send({ type: 'delete.failed', error: `delete: ${describeError(err)}` });
      },
    );
  }

  private parkEffect(name: string, failures: number, lastError: string, waits: number): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    const { parked, log, stats } = this.deps;
    const waitsBefore = parked.get(name)?.waits ?? 0;
    // Waits lengthen the backoff like failures (1, 2, 4 … s, cap 300 s) but never quarantine.
    const delayMs = outboxBackoffMs(failures + waits);
    parked.park(name, { failures, lastError, waits, dueAt: this.now() + delayMs, mtimeMs: record.mtimeMs });
    this.parkedCount += 1;
    stats.error(`${name}: ${lastError}`);
    const fields = { outbox: this.deps.store.spec.kind, file: name, failures, waits, retry_in_ms: delayMs, err: lastError };
    if (waits > waitsBefore) {
      // Once per file: a backend that is not set up yet would otherwise log every retry of every file.
      if (waitsBefore === 0)
        log.warn(
          fields,
          'outbox target stream/store not available (JetStream no responders or not found); waiting for it, not counted toward quarantine',
        );
      else log.debug(fields, 'outbox target still not available; backing off');
    } else if (failures >= OUTBOX_WARN_AFTER_FAILURES) log.warn(fields, 'outbox message keeps failing');
    else log.debug(fields, 'outbox message failed; backing off');
    this.close(record);
  }

  private quarantineEffect(name: string, reason: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.close(record, true);
    const { parked, stats, log, store } = this.deps;
    store.stuck.quarantine(name, reason).then(
      (stuckName) => {
        parked.forget(name);
        parked.release(name);
        if (stuckName === undefined) return;
        this.quarantinedCount += 1;
        stats.completed();
        stats.quarantined();
        stats.error(`${name}: quarantined: ${reason}`);
        log.warn({ outbox: store.spec.kind, file: name, stuck: stuckName, reason }, 'outbox message quarantined to stuck/');
        this.schedulePump();
      },
      (err: unknown) => {
        // Could not even move it: keep it parked at the longest backoff and try again later.
        this.parkedCount += 1;
        parked.park(name, {
          failures: Number.MAX_SAFE_INTEGER,
          lastError: reason,
          waits: 0,
          dueAt: this.now() + OUTBOX_BACKOFF_CAP_MS,
          mtimeMs: record.mtimeMs,
        });
        parked.release(name);
        stats.error(`${name}: cannot quarantine: ${describeError(err)}`);
        log.error({ outbox: store.spec.kind, file: name, reason, err: describeError(err) }, 'outbox message could not be moved to stuck/');
        this.schedulePump();
      },
    );
  }

  private releaseEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.deps.parked.forget(name);
    this.delivered += 1;
    this.deps.stats.completed();
    this.close(record);
  }

  /** Takes the record out of the pass; the actor stops after its current step. */
  private close(record: MessageRecord, keepBusy = false): void {
    if (record.closed) return;
    this.lastSettledAt = this.deps.wallNow();
    if (record.phase === 'window') this.inWindow -= 1;
    else if (record.phase === 'deleting') this.deleting -= 1;
    record.phase = 'closing';
    record.closed = true;
    this.records.delete(record.name);
    if (!keepBusy) this.deps.parked.release(record.name);
    const handle = record.handle;
    // Called from inside the actor's own action: stop it once that step is over.
    queueMicrotask(() => handle?.stop());
    this.schedulePump();
  }

  private emitProgress(force: boolean): void {
    this.deps.stats.inFlight(this.inWindow);
    const onProgress = this.options.onProgress;
    if (onProgress === undefined) return;
    const now = this.now();
    if (!force && now - this.lastProgressAt < OUTBOX_PROGRESS_INTERVAL_MS) return;
    this.lastProgressAt = now;
    onProgress(this.deps.status());
  }
}
