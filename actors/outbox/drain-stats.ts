/**
 * The figures behind an outbox child's `status` (`kanade-agent status`), kept by the drain across
 * passes. Ages are computed against the wall-clock reading the caller passes in (file mtimes are
 * wall-clock times), so nothing here reads a clock.
 *
 * @example
 * const stats = new DrainStats();
 * stats.passStarted({ enqueued: store.enqueuedCount, depth: 12, stuck: 0 });
 * stats.status(Date.now(), store.enqueuedCount, undefined).depth; // 12
 */

/** The `context.status` summary of an outbox child. */
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

/** What a running pass says about itself, at a wall-clock time. */
export interface PassProgress {
  /** mtime of the oldest message it picked up and has not settled, or null. */
  readonly oldestDueMtimeMs: number | null;
  /** How long it has held due work without settling any message. */
  readonly stalledMs: number;
}

/** See the module comment. */
export class DrainStats {
  private lastAckLatencyMs: number | null = null;
  private lastError: string | null = null;
  private depthAtPassStart = 0;
  private enqueuedAtPassStart = 0;
  private completedSincePassStart = 0;
  private stuckCount = 0;
  private inFlightNow = 0;
  private oldestMtimeMs: number | null = null;

  /** A pass counted the directory: `enqueued` is the store's enqueue count when it began. */
  passStarted(counts: { readonly enqueued: number; readonly depth: number; readonly stuck: number }): void {
    this.enqueuedAtPassStart = counts.enqueued;
    this.depthAtPassStart = counts.depth;
    this.stuckCount = counts.stuck;
    this.completedSincePassStart = 0;
    this.oldestMtimeMs = null;
  }

  setStuck(count: number): void {
    this.stuckCount = count;
  }

  /** A message left the outbox (delivered or quarantined). */
  completed(): void {
    this.completedSincePassStart += 1;
  }

  quarantined(): void {
    this.stuckCount += 1;
  }

  ackLatency(ms: number): void {
    this.lastAckLatencyMs = ms;
  }

  error(text: string): void {
    this.lastError = text;
  }

  inFlight(count: number): void {
    this.inFlightNow = count;
  }

  /** A listed (or parked) message with this mtime exists. */
  seenMtime(mtimeMs: number): void {
    if (this.oldestMtimeMs === null || mtimeMs < this.oldestMtimeMs) this.oldestMtimeMs = mtimeMs;
  }

  /** The status at wall-clock `now`, given the store's enqueue count and the running pass, if any. */
  status(now: number, enqueuedCount: number, progress: PassProgress | undefined): OutboxStatus {
    const depth = Math.max(0, this.depthAtPassStart + (enqueuedCount - this.enqueuedAtPassStart) - this.completedSincePassStart);
    const oldestDue = progress?.oldestDueMtimeMs ?? null;
    return {
      depth,
      in_flight: this.inFlightNow,
      stuck: this.stuckCount,
      oldest_age_ms: depth === 0 || this.oldestMtimeMs === null ? null : Math.max(0, Math.round(now - this.oldestMtimeMs)),
      oldest_due_age_ms: oldestDue === null ? null : Math.max(0, Math.round(now - oldestDue)),
      stalled_ms: Math.max(0, Math.round(progress?.stalledMs ?? 0)),
      last_ack_latency_ms: this.lastAckLatencyMs,
      last_error: this.lastError,
    };
  }
}
