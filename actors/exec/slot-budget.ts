/**
 * The process-wide FIFO concurrency budget of `max_local_concurrent` (§8.2). Resizing keeps running
 * jobs; a smaller limit only delays new grants. A waiter that is aborted leaves the queue.
 *
 * @example
 * const budget = createSlotBudget(2);
 * const release = await budget.acquire(signal);
 * try { await run(); } finally { release(); }
 */

/** A live FIFO semaphore. */
export interface SlotBudget {
  /** Resolves with a release function once a slot is free; rejects with the abort reason if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** A slot now if one is free and nobody queues (the release function), else undefined; never queues. */
  tryAcquire(): (() => void) | undefined;
  /** Changes the limit (values below 1 become 1). */
  resize(limit: number): void;
  /** True when a slot is free and nobody queues: `acquire` would be granted at once. */
  available(): boolean;
  /** Current limit, slots in use and waiters, for status. */
  stats(): { limit: number; inUse: number; waiting: number };
}

interface Waiter {
  grant: (release: () => void) => void;
}

/** Creates a budget of `limit` slots. */
export function createSlotBudget(limit: number): SlotBudget {
  let max = Math.max(1, Math.floor(limit));
  let inUse = 0;
  const queue: Waiter[] = [];

  const makeRelease = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      inUse -= 1;
      pump();
    };
  };
  const pump = () => {
    while (inUse < max && queue.length > 0) {
      const waiter = queue.shift() as Waiter;
      inUse += 1;
      waiter.grant(makeRelease());
    }
  };

  return {
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (inUse < max && queue.length === 0) {
        inUse += 1;
        return Promise.resolve(makeRelease());
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          grant: (release) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          },
        };
        const onAbort = () => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(waiter);
      });
    },
    tryAcquire() {
      if (inUse >= max || queue.length > 0) return undefined;
      inUse += 1;
      return makeRelease();
    },
    resize(limit) {
      max = Math.max(1, Math.floor(limit));
      pump();
    },
    available: () => inUse < max && queue.length === 0,
    stats: () => ({ limit: max, inUse, waiting: queue.length }),
  };
}
