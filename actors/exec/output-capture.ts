/**
 * Bounded capture of one output stream (§8.5): keeps the first 2/3 and the last 1/3 of
 * `MAX_CAPTURE_BYTES`, counts everything, and renders lossy UTF-8 with the truncation marker.
 */
import { MAX_CAPTURE_BYTES, truncationMarker } from '../../contract/index.js';

/** A capped capture buffer for one stream. */
export class OutputCapture {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  /** The tail as a ring of chunks trimmed from the front; holds at most `tailLimit` bytes once trimmed. */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(maxBytes: number = MAX_CAPTURE_BYTES) {
    this.headLimit = Math.floor((maxBytes * 2) / 3);
    this.tailLimit = maxBytes - this.headLimit;
  }

  /** Bytes written so far, kept or not. */
  get totalBytes(): number {
    return this.total;
  }

  /** Appends a chunk. */
  push(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(this.headLimit - this.headBytes, rest.length);
      this.head.push(rest.subarray(0, take));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Compact only when the tail is well over its limit, so pushes stay amortised O(1).
    if (this.tailBytes > this.tailLimit * 2) this.trimTail();
  }

  private trimTail(): void {
    const joined = Buffer.concat(this.tail, this.tailBytes);
    const kept = joined.subarray(Math.max(0, joined.length - this.tailLimit));
    this.tail = [Buffer.from(kept)];
    this.tailBytes = kept.length;
  }

  /** The captured text: lossy UTF-8, with the marker between head and tail when bytes were dropped. */
  text(): string {
    if (this.tailBytes > this.tailLimit) this.trimTail();
    const head = Buffer.concat(this.head, this.headBytes);
    const tail = Buffer.concat(this.tail, this.tailBytes);
    const dropped = this.total - head.length - tail.length;
    if (dropped <= 0) return Buffer.concat([head, tail]).toString('utf8');
    const headText = head.toString('utf8');
    const separator = headText.endsWith('\n') ? '' : '\n';
    return `${headText}${separator}${truncationMarker(this.total, dropped, head.length, tail.length)}${tail.toString('utf8')}`;
  }
}
