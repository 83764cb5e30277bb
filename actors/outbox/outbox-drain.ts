/**
 * The drain pool of one outbox: streams the directory in bounded, oldest-first batches and runs
 * one message life cycle per due file, with up to `window` messages publishing or awaiting their
 * PubAck and, independently, up to `maxDeleting` delivered files being unlinked. Each message is
 * acked and deleted on its own; a failing file is parked with its backoff (1, 2, 4 … s, cap 300 s,
 * in memory) and never blocks the others.
 *
 * Deletes run outside the publish window on purpose: unlinking freshly fsynced files is the slow
 * part of a drain here, so the window is kept full of publishes while the file system catches up.
 *
 * One `OutboxDrain` lives as long as its store (the process), so the failure streaks survive a
 * restart of the drain child; a pass is one walk over the directory.
 *
 * @example
 * const drain = new OutboxDrain(store, log);
 * const pass = drain.runPass({ publish, runnerFactory: createOutboxMessageRunner, window: 64, ackTimeoutMs: 30_000 });
 * const summary = await pass.done;
 */
import type { Logger } from 'pino';
import {
  describeDecodeError,
  OUTBOX_BACKOFF_BASE_MS,
  OUTBOX_BACKOFF_CAP_MS,
  OUTBOX_WARN_AFTER_FAILURES,
  PUB_ACK_TIMEOUT_MS,
} from '../../contract/index.js';
import type { OutboxMessageHandle, OutboxMessageRunner, OutboxMessageRunnerFactory, TimerClock } from './message-runner.js';
import type { OutboxKindSpec } from './outbox-kinds.js';
import { describeIrregular } from '../regular-file.js';
import { describeError, errorCode, type ListedBatch, type OutboxStore, type PrefetchedFile } from './outbox-store.js';
import { isResourceUnavailable } from './publish-errors.js';

/** Messages publishing or awaiting their PubAck at once (issue #3: default 64). */
export const OUTBOX_PUBLISH_WINDOW = 64;
/** Delivered files being unlinked at once, outside the publish window. */
export const OUTBOX_MAX_DELETING = 192;
/** Files stat'ed and sorted per listing batch (the bound of "oldest first"). */
export const OUTBOX_LIST_BATCH = 256;
/** Files up to this size are read ahead of their turn (bigger ones are read when published). */
export const OUTBOX_PREFETCH_MAX_BYTES = 64 * 1024;
/** Status updates from a running pass are sent at most this often. */
export const OUTBOX_PROGRESS_INTERVAL_MS = 250;
/** The client's own request timeout runs this much past the machine's ack timeout, so the machine decides. */
export const ACK_CLIENT_GRACE_MS = 1_000;

/** Publishes `payload` on `subject` and resolves on the PubAck (rejects on error or timeout). */
export type PublishFn = (subject: string, payload: Uint8Array, timeoutMs: number) => Promise<void>;
/** Turns a decoded message and its file bytes into the bytes to publish (results: offload big output). */
export type PrepareFn<T> = (message: T, fileBytes: Uint8Array) => Promise<Uint8Array>;

/** Backoff before attempt n+1 after `failures` consecutive failures (§9: 1, 2, 4 … s, cap 300 s). */
export function outboxBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(OUTBOX_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30), OUTBOX_BACKOFF_CAP_MS);
}

/** The `context.status` summary of an outbox child (`kanade-agent status`). */
export interface OutboxStatus {
  /** Message files on disk (estimate: counted at the start of each pass, then kept up to date). */
  readonly depth: number;
  readonly in_flight: number;
  readonly stuck: number;
  /** Age of the oldest message the drain knows of, or null when none. */
  readonly oldest_age_ms: number | null;
  /**
   * Age (from its mtime) of the oldest message a running pass has picked up and not yet settled
   * (publishing, awaiting its PubAck, being deleted, or read ahead and waiting for the window);
   * null when the pass holds none.
   */
  readonly oldest_due_age_ms: number | null;
  /**
   * How long a running pass has held due work (messages picked up, or a batch being read) without
   * settling any message; 0 when it is making progress or idle. The child turns `degraded` when
   * this passes twice the ack timeout: every publish settles within the ack timeout, so longer
   * means the drain is stuck (a hung file system), not slow.
   */
  readonly stalled_ms: number;
  readonly last_ack_latency_ms: number | null;
  readonly last_error: string | null;
}

/** Options of one pass. */
export interface DrainPassOptions<T> {
  readonly publish: PublishFn;
  readonly prepare?: PrepareFn<T>;
  readonly runnerFactory: OutboxMessageRunnerFactory;
  readonly window?: number;
  readonly maxDeleting?: number;
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

/** A running pass. */
export interface DrainPass {
  readonly done: Promise<PassSummary>;
  /** Stops at once: no new publishes; late PubAcks still delete their files. */
  stop(): void;
  /** Stops starting messages and resolves `done` when the ones in flight have settled. */
  finishInFlight(): Promise<PassSummary>;
}

interface Parked {
  readonly failures: number;
  readonly lastError: string;
  /** Attempts that found the stream/store missing (backoff only, never quarantine). */
  readonly waits: number;
  readonly dueAt: number;
  readonly mtimeMs: number;
}

interface MessageRecord {
  readonly name: string;
  readonly mtimeMs: number;
  handle: OutboxMessageHandle | undefined;
  phase: 'window' | 'deleting' | 'closing';
  sentAt: number;
  closed: boolean;
  /** Bumped per publish, so a stale deadline never times out a later attempt. */
  attempt: number;
  /** Read ahead; consumed by the first publish attempt (a retry reads the file again). */
  prefetched: PrefetchedFile | undefined;
}

/** See the module comment. */
export class OutboxDrain<T> {
  private readonly parked = new Map<string, Parked>();
  /** Files with a live life cycle in some pass, never picked twice. */
  private readonly busy = new Set<string>();
  private lastAckLatencyMs: number | null = null;
  private lastError: string | null = null;
  private depthAtPassStart = 0;
  private enqueuedAtPassStart = 0;
  private completedSincePassStart = 0;
  private stuckCount = 0;
  private inFlightNow = 0;
  private oldestMtimeMs: number | null = null;
  private activePass: { progress(now: number): { oldestDueMtimeMs: number | null; stalledMs: number } } | undefined;

  constructor(
    readonly store: OutboxStore<T>,
    private readonly log: Logger,
  ) {}

  /** The status summary as of now. */
  status(): OutboxStatus {
    const depth = Math.max(0, this.depthAtPassStart + (this.store.enqueuedCount - this.enqueuedAtPassStart) - this.completedSincePassStart);
    const wallNow = Date.now();
    const progress = this.activePass?.progress(wallNow);
    const oldestDue = progress?.oldestDueMtimeMs ?? null;
    return {
      depth,
      in_flight: this.inFlightNow,
      stuck: this.stuckCount,
      oldest_age_ms: depth === 0 || this.oldestMtimeMs === null ? null : Math.max(0, Math.round(wallNow - this.oldestMtimeMs)),
      oldest_due_age_ms: oldestDue === null ? null : Math.max(0, Math.round(wallNow - oldestDue)),
      stalled_ms: Math.max(0, Math.round(progress?.stalledMs ?? 0)),
      last_ack_latency_ms: this.lastAckLatencyMs,
      last_error: this.lastError,
    };
  }

  /** Refreshes the stuck count (cheap: one readdir of `stuck/`). */
  async refreshStuck(): Promise<void> {
    this.stuckCount = await this.store.countStuck();
  }

  /**
   * Makes every parked file due now (failure counts kept): a reconnect may be exactly what they
   * waited for (contract §4: "woken on reconnect").
   */
  wakeParked(): void {
    for (const [name, parked] of this.parked) this.parked.set(name, { ...parked, dueAt: 0 });
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
  runPass(options: DrainPassOptions<T>): DrainPass {
    return new Pass(this, options);
  }

  /** @internal pass bookkeeping shared with {@link Pass}. */
  get internals() {
    this.internalsCache ??= this.makeInternals();
    return this.internalsCache;
  }

  private internalsCache: ReturnType<OutboxDrain<T>['makeInternals']> | undefined;

  private makeInternals() {
    return {
    parked: this.parked,
    busy: this.busy,
    log: this.log,
    beginPass: async (): Promise<void> => {
      this.enqueuedAtPassStart = this.store.enqueuedCount;
      this.depthAtPassStart = await this.store.countMessages();
      this.stuckCount = await this.store.countStuck();
      this.completedSincePassStart = 0;
      this.oldestMtimeMs = null;
    },
    completed: (): void => {
      this.completedSincePassStart += 1;
    },
    quarantined: (): void => {
      this.stuckCount += 1;
    },
    ackLatency: (ms: number): void => {
      this.lastAckLatencyMs = ms;
    },
    error: (text: string): void => {
      this.lastError = text;
    },
    inFlight: (n: number): void => {
      this.inFlightNow = n;
    },
    passStarted: (pass: NonNullable<OutboxDrain<T>['activePass']>): void => {
      this.activePass = pass;
    },
    passEnded: (pass: NonNullable<OutboxDrain<T>['activePass']>): void => {
      if (this.activePass === pass) this.activePass = undefined;
    },
    seenMtime: (mtimeMs: number): void => {
      if (this.oldestMtimeMs === null || mtimeMs < this.oldestMtimeMs) this.oldestMtimeMs = mtimeMs;
    },
    };
  }
}

class Pass<T> implements DrainPass {
  readonly done: Promise<PassSummary>;
  private resolveDone!: (summary: PassSummary) => void;
  private rejectDone!: (err: unknown) => void;
  private readonly records = new Map<string, MessageRecord>();
  private queue: PrefetchedFile[] = [];
  private lister: AsyncGenerator<ListedBatch> | undefined;
  private listingDone = false;
  private fetching = false;
  private started = false;
  private stopped = false;
  private draining = false;
  private settled = false;
  private pumpScheduled = false;
  private failure: { error: unknown } | undefined;
  private inWindow = 0;
  private deleting = 0;
  private listed = 0;
  private delivered = 0;
  private quarantinedCount = 0;
  private notDue = 0;
  private lastProgressAt = -Infinity;
  /** Wall-clock ms of the pass start or of the last settled message (the stall figure). */
  private lastSettledAt = Date.now();
  private fetchStartedAt = 0;
  /** Messages awaiting a PubAck in send order; deadlines are monotonic (one timeout for all). */
  private ackDeadlines: Array<{ record: MessageRecord; attempt: number; deadline: number }> = [];
  private ackDeadlineHead = 0;
  private ackTimer: unknown;
  private readonly timers: TimerClock;
  private readonly window: number;
  private readonly maxDeleting: number;
  private readonly ackTimeoutMs: number;
  private readonly listBatch: number;
  private readonly now: () => number;
  private readonly runner: OutboxMessageRunner;
  private readonly spec: OutboxKindSpec<T>;

  constructor(
    private readonly drain: OutboxDrain<T>,
    private readonly options: DrainPassOptions<T>,
  ) {
    this.window = Math.max(1, options.window ?? OUTBOX_PUBLISH_WINDOW);
    this.maxDeleting = Math.max(1, options.maxDeleting ?? OUTBOX_MAX_DELETING);
    this.ackTimeoutMs = options.ackTimeoutMs ?? PUB_ACK_TIMEOUT_MS;
    this.listBatch = Math.max(1, options.listBatch ?? OUTBOX_LIST_BATCH);
    const clockNow = (options.clock as { now?: () => number } | undefined)?.now;
    this.now = options.now ?? (typeof clockNow === 'function' ? () => clockNow.call(options.clock) : Date.now);
    this.spec = drain.store.spec;
    this.timers = options.clock ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout) };
    this.runner = options.runnerFactory(
      {
        publish: (name) => this.publishEffect(name),
        acked: (name) => this.ackedEffect(name),
        remove: (name) => this.removeEffect(name),
        park: (name, failures, lastError, waits) => this.parkEffect(name, failures, lastError, waits),
        quarantine: (name, reason) => this.quarantineEffect(name, reason),
        release: (name) => this.releaseEffect(name),
      },
      { ackTimeoutMs: this.ackTimeoutMs, ...(options.clock === undefined ? {} : { clock: options.clock }) },
    );
    this.done = new Promise<PassSummary>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.drain.internals.passStarted(this);
    void this.begin();
  }

  /** Oldest unsettled due message and stall time, for {@link OutboxDrain.status} (wall clock). */
  progress(now: number): { oldestDueMtimeMs: number | null; stalledMs: number } {
    let oldest: number | null = null;
    for (const record of this.records.values()) if (record.mtimeMs > 0 && (oldest === null || record.mtimeMs < oldest)) oldest = record.mtimeMs;
    for (const file of this.queue) if (file.mtimeMs > 0 && (oldest === null || file.mtimeMs < oldest)) oldest = file.mtimeMs;
    const holdsWork = this.records.size > 0 || this.queue.length > 0 || this.fetching;
    return { oldestDueMtimeMs: oldest, stalledMs: holdsWork && !this.settled ? now - Math.max(this.lastSettledAt, this.fetching && this.records.size === 0 && this.queue.length === 0 ? this.fetchStartedAt : 0) : 0 };
  }

  /** A message settled (delivered, parked, quarantined, vanished): the drain is moving. */
  private noteSettled(): void {
    this.lastSettledAt = Date.now();
  }

  stop(): void {
    if (this.settled) return;
    this.stopped = true;
    for (const record of this.records.values()) {
      record.closed = true;
      record.handle?.stop();
      this.drain.internals.busy.delete(record.name);
    }
    this.records.clear();
    this.inWindow = 0;
    this.deleting = 0;
    this.drain.internals.inFlight(0);
    void this.lister?.return(undefined).catch(() => undefined);
    this.settle();
  }

  finishInFlight(): Promise<PassSummary> {
    this.draining = true;
    this.queue = [];
    this.schedulePump();
    return this.done;
  }

  private async begin(): Promise<void> {
    try {
      await this.drain.internals.beginPass();
      if (this.stopped) return;
      const { parked, busy } = this.drain.internals;
      const now = this.now();
      this.lister = this.drain.store.listNameBatches(this.listBatch, (name) => {
        if (busy.has(name)) return true;
        const p = parked.get(name);
        if (p !== undefined && p.dueAt > now) {
          this.notDue += 1;
          this.drain.internals.seenMtime(p.mtimeMs);
          return true;
        }
        return false;
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
    this.drain.internals.passEnded(this);
    if (this.ackTimer !== undefined) this.timers.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackDeadlines = [];
    this.emitProgress(true);
    if (this.failure !== undefined) {
      this.rejectDone(this.failure.error);
      return;
    }
    this.resolveDone({
      listed: this.listed,
      delivered: this.delivered,
      quarantined: this.quarantinedCount,
      notDue: this.notDue,
      stopped: this.stopped,
    });
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
    if (this.settled || this.stopped || !this.started) return;
    if (!this.draining) {
      while (this.inWindow < this.window && this.deleting < this.maxDeleting && this.queue.length > 0) {
        this.startMessage(this.queue.shift() as PrefetchedFile);
      }
      // Read the next batch while this one publishes, so the file system always has work queued.
      if (this.queue.length <= this.listBatch / 2 && !this.listingDone && !this.fetching) void this.fetchBatch();
    }
    const listingOver = this.draining || (this.listingDone && !this.fetching && this.queue.length === 0);
    if (listingOver && this.records.size === 0) this.settle();
    else this.emitProgress(false);
  }

  private async fetchBatch(): Promise<void> {
    this.fetching = true;
    this.fetchStartedAt = Date.now();
    try {
      const next = await (this.lister as AsyncGenerator<ListedBatch>).next();
      if (next.done === true) this.listingDone = true;
      else {
        // One open per file gives the mtime (oldest first within the batch) and the bytes; entries
        // that are not regular files are never opened (their kind comes from the listing).
        const store = this.drain.store;
        const { names, irregular } = next.value;
        const files = await Promise.all(names.map((name) => store.readWithStat(name, OUTBOX_PREFETCH_MAX_BYTES, irregular?.get(name) ?? 'file')));
        files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
        this.listed += files.length;
        for (const file of files) {
          if (file.mtimeMs > 0) this.drain.internals.seenMtime(file.mtimeMs);
          this.queue.push(file);
        }
      }
    } catch (err) {
      this.fetching = false;
      this.fail(err);
      return;
    }
    this.fetching = false;
    this.schedulePump();
  }

  private startMessage(file: PrefetchedFile): void {
    const { parked, busy } = this.drain.internals;
    if (busy.has(file.name)) return;
    const prior = parked.get(file.name);
    if (prior !== undefined && prior.dueAt > this.now()) {
      this.notDue += 1;
      return;
    }
    const record: MessageRecord = { name: file.name, mtimeMs: file.mtimeMs, handle: undefined, phase: 'window', sentAt: 0, closed: false, attempt: 0, prefetched: file };
    busy.add(file.name);
    this.records.set(file.name, record);
    this.inWindow += 1;
    record.handle = this.runner.start(file.name, prior === undefined ? undefined : { failures: prior.failures, lastError: prior.lastError, waits: prior.waits });
    record.handle.send(prior === undefined ? { type: 'publish.start' } : { type: 'backoff.elapsed' });
  }

  private publishEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    void this.publishMessage(record);
  }

  private async publishMessage(record: MessageRecord): Promise<void> {
    const send = (event: Parameters<OutboxMessageHandle['send']>[0]): void => {
      if (!record.closed) record.handle?.send(event);
    };
    const prefetched = record.prefetched;
    record.prefetched = undefined;
    let bytes: Buffer;
    let readError: { code: string; error: unknown } | undefined;
    if (prefetched?.bytes !== undefined) bytes = prefetched.bytes;
    else if (prefetched?.errorCode !== undefined) {
      bytes = Buffer.alloc(0);
      readError = { code: prefetched.errorCode, error: prefetched.error ?? prefetched.errorCode };
    } else {
      try {
        bytes = await this.drain.store.read(record.name);
      } catch (err) {
        bytes = Buffer.alloc(0);
        readError = { code: errorCode(err), error: err };
      }
    }
    if (readError !== undefined) {
      if (readError.code === 'ENOENT') send({ type: 'message.vanished' });
      else if (readError.code === 'EISDIR' || readError.code === 'ENOTREG') {
        const kind = prefetched?.kind ?? (readError.error as { kind?: Parameters<typeof describeIrregular>[0] }).kind ?? (readError.code === 'EISDIR' ? 'directory' : 'unknown');
        send({ type: 'message.unreadable', reason: describeIrregular(kind) });
      }
      else send({ type: 'publish.failed', error: `read: ${describeError(readError.error)}` });
      return;
    }
    if (bytes.length === 0) {
      send({ type: 'message.unreadable', reason: 'empty file' });
      return;
    }
    const decoded = this.spec.decode(bytes);
    if (!decoded.ok) {
      send({ type: 'message.unreadable', reason: `not a valid ${this.spec.kind} message: ${describeDecodeError(decoded.error)}` });
      return;
    }
    let payload: Uint8Array = bytes;
    let subject: string;
    try {
      subject = this.spec.subject(decoded.value);
      if (this.options.prepare !== undefined) payload = await this.options.prepare(decoded.value, bytes);
    } catch (err) {
      send({ type: isResourceUnavailable(err) ? 'publish.unavailable' : 'publish.failed', error: `offload: ${describeError(err)}` });
      return;
    }
    if (record.closed) return;
    let ack: Promise<void>;
    try {
      record.sentAt = this.now();
      ack = this.options.publish(subject, payload, this.ackTimeoutMs + ACK_CLIENT_GRACE_MS);
    } catch (err) {
      send({ type: isResourceUnavailable(err) ? 'publish.unavailable' : 'publish.failed', error: describeError(err) });
      return;
    }
    send({ type: 'publish.sent' });
    this.watchAck(record);
    try {
      await ack;
    } catch (err) {
      send({ type: isResourceUnavailable(err) ? 'publish.unavailable' : 'publish.failed', error: describeError(err) });
      return;
    }
    if (record.closed) {
      // A late PubAck (after the ack timeout or a pause): the stream has it, so drop the file
      // unless another attempt already owns it (that attempt's resend is de-duplicated downstream).
      if (!this.drain.internals.busy.has(record.name)) {
        this.drain.internals.parked.delete(record.name);
        void this.drain.store.remove(record.name).catch(() => undefined);
      }
      return;
    }
    send({ type: 'ack.received', latencyMs: this.now() - record.sentAt });
  }

  /** Arms the pass's single ack timer for the oldest pending deadline. */
  private watchAck(record: MessageRecord): void {
    this.trimAckDeadlines();
    record.attempt += 1;
    this.ackDeadlines.push({ record, attempt: record.attempt, deadline: record.sentAt + this.ackTimeoutMs });
    if (this.ackTimer === undefined) this.armAckTimer();
  }

  private armAckTimer(): void {
    const head = this.ackDeadlines[this.ackDeadlineHead];
    if (head === undefined || this.settled) {
      this.ackTimer = undefined;
      return;
    }
    this.ackTimer = this.timers.setTimeout(() => this.expireAcks(), Math.max(0, head.deadline - this.now()));
  }

  /** Drops settled entries from the head (acks arrive roughly in send order), so the queue stays short. */
  private trimAckDeadlines(): void {
    while (this.ackDeadlineHead < this.ackDeadlines.length) {
      const entry = this.ackDeadlines[this.ackDeadlineHead] as { record: MessageRecord; attempt: number };
      if (!entry.record.closed && entry.record.attempt === entry.attempt && entry.record.phase === 'window') break;
      this.ackDeadlineHead += 1;
    }
    if (this.ackDeadlineHead > 1024 && this.ackDeadlineHead * 2 > this.ackDeadlines.length) {
      this.ackDeadlines = this.ackDeadlines.slice(this.ackDeadlineHead);
      this.ackDeadlineHead = 0;
    }
  }

  private expireAcks(): void {
    const now = this.now();
    while (this.ackDeadlineHead < this.ackDeadlines.length) {
      const entry = this.ackDeadlines[this.ackDeadlineHead] as { record: MessageRecord; attempt: number; deadline: number };
      if (entry.deadline > now) break;
      this.ackDeadlineHead += 1;
      const { record, attempt } = entry;
      if (!record.closed && record.attempt === attempt && record.phase === 'window') record.handle?.send({ type: 'ack.timedOut' });
    }
    if (this.ackDeadlineHead > 1024 && this.ackDeadlineHead * 2 > this.ackDeadlines.length) {
      this.ackDeadlines = this.ackDeadlines.slice(this.ackDeadlineHead);
      this.ackDeadlineHead = 0;
    }
    this.armAckTimer();
  }

  private ackedEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.drain.internals.ackLatency(this.now() - record.sentAt);
    this.inWindow -= 1;
    this.deleting += 1;
    record.phase = 'deleting';
    this.schedulePump();
  }

  private removeEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.drain.store.remove(name).then(
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
    const { parked, log } = this.drain.internals;
    const waitsBefore = parked.get(name)?.waits ?? 0;
    // Waits lengthen the backoff like failures (1, 2, 4 … s, cap 300 s) but never quarantine.
    const delayMs = outboxBackoffMs(failures + waits);
    parked.set(name, { failures, lastError, waits, dueAt: this.now() + delayMs, mtimeMs: record.mtimeMs });
    this.drain.internals.error(`${name}: ${lastError}`);
    const fields = { outbox: this.spec.kind, file: name, failures, waits, retry_in_ms: delayMs, err: lastError };
    if (waits > waitsBefore) {
      // Once per file: a backend that is not set up yet would otherwise log every retry of every file.
      if (waitsBefore === 0) log.warn(fields, 'outbox target stream/store not available (JetStream no responders or not found); waiting for it, not counted toward quarantine');
      else log.debug(fields, 'outbox target still not available; backing off');
    } else if (failures >= OUTBOX_WARN_AFTER_FAILURES) log.warn(fields, 'outbox message keeps failing');
    else log.debug(fields, 'outbox message failed; backing off');
    this.close(record);
  }

  private quarantineEffect(name: string, reason: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.close(record, true);
    this.drain.store.quarantine(name, reason).then(
      (stuckName) => {
        this.drain.internals.parked.delete(name);
        this.drain.internals.busy.delete(name);
        if (stuckName === undefined) return;
        this.quarantinedCount += 1;
        this.drain.internals.completed();
        this.drain.internals.quarantined();
        this.drain.internals.error(`${name}: quarantined: ${reason}`);
        this.drain.internals.log.warn({ outbox: this.spec.kind, file: name, stuck: stuckName, reason }, 'outbox message quarantined to stuck/');
        this.schedulePump();
      },
      (err: unknown) => {
        // Could not even move it: keep it parked at the longest backoff and try again later.
        this.drain.internals.parked.set(name, { failures: Number.MAX_SAFE_INTEGER, lastError: reason, waits: 0, dueAt: this.now() + OUTBOX_BACKOFF_CAP_MS, mtimeMs: record.mtimeMs });
        this.drain.internals.busy.delete(name);
        this.drain.internals.error(`${name}: cannot quarantine: ${describeError(err)}`);
        this.drain.internals.log.error({ outbox: this.spec.kind, file: name, reason, err: describeError(err) }, 'outbox message could not be moved to stuck/');
        this.schedulePump();
      },
    );
  }

  private releaseEffect(name: string): void {
    const record = this.records.get(name);
    if (record === undefined) return;
    this.drain.internals.parked.delete(name);
    this.delivered += 1;
    this.drain.internals.completed();
    this.close(record);
  }

  /** Takes the record out of the pass; the actor stops after its current step. */
  private close(record: MessageRecord, keepBusy = false): void {
    if (record.closed) return;
    this.noteSettled();
    if (record.phase === 'window') this.inWindow -= 1;
    else if (record.phase === 'deleting') this.deleting -= 1;
    record.phase = 'closing';
    record.closed = true;
    this.records.delete(record.name);
    if (!keepBusy) this.drain.internals.busy.delete(record.name);
    const handle = record.handle;
    // Called from inside the actor's own action: stop it once that step is over.
    queueMicrotask(() => handle?.stop());
    this.schedulePump();
  }

  private emitProgress(force: boolean): void {
    this.drain.internals.inFlight(this.inWindow);
    const onProgress = this.options.onProgress;
    if (onProgress === undefined) return;
    const now = this.now();
    if (!force && now - this.lastProgressAt < OUTBOX_PROGRESS_INTERVAL_MS) return;
    this.lastProgressAt = now;
    onProgress(this.drain.status());
  }
}
