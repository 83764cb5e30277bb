/**
 * A fixed-capacity FIFO that overwrites its oldest entry when full: pushing never allocates beyond
 * the capacity and never blocks, so the inspector's memory stays bounded however busy the agent is.
 */
export class RingBuffer<T> {
  private readonly slots: Array<T | undefined>;
  private next = 0;
  private size = 0;
  /** Entries overwritten since creation. */
  overwritten = 0;

  /**
   * @example
   * const log = new RingBuffer<string>(2); log.push('a'); log.push('b'); log.push('c'); log.toArray(); // ['b', 'c']
   */
  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`ring buffer capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<T | undefined>(capacity);
  }

  /** Appends `item`, dropping the oldest entry when full. */
  push(item: T): void {
    if (this.size === this.capacity) this.overwritten += 1;
    else this.size += 1;
    this.slots[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
  }

  /** How many entries are held. */
  get length(): number {
    return this.size;
  }

  /** The entries, oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i += 1) out.push(this.slots[(start + i) % this.capacity] as T);
    return out;
  }
}
