/**
 * Failpoints for process-level tests: `KANADE_FAILPOINTS=heartbeat.tick=throw,outbox.publish=hang`
 * makes the named point throw or hang. Unset, `hit()` is one Map lookup on an empty map.
 *
 * Actions: `throw` (every time), `throw-once` (first hit only), `hang` (a promise that never settles),
 * `exit` (process.exit(1) at once, a crash without cleanup), `exit64` (process.exit(64) at once: what
 * the self-update does after a swap, which service hosts answer with an immediate restart),
 * `kill` (SIGKILL to itself: a power cut as far as the files are concerned),
 * `sleep<ms>` (e.g. `sleep500`: every hit waits that long; `hitSync` ignores it) to widen a window
 * for a test. `<point>=<action>@N` arms the point from its N-th hit on (`heartbeat.tick=exit64@2`:
 * the first beat goes out, the second tick exits).
 */

export type FailpointAction = 'throw' | 'throw-once' | 'hang' | 'exit' | 'exit64' | 'kill' | `sleep${number}`;
const ACTIONS: readonly string[] = ['throw', 'throw-once', 'hang', 'exit', 'exit64', 'kill'];
const SLEEP = /^sleep(\d{1,6})$/;

export class FailpointError extends Error {
  constructor(readonly point: string) {
    super(`failpoint ${point} triggered`);
    this.name = 'FailpointError';
  }
}

export interface Failpoints {
  /** Throws, hangs or exits if `point` is armed; returns at once otherwise. Await it at async points. */
  hit(point: string): Promise<void>;
  /** Synchronous variant for points that cannot await: `hang` is treated as `throw`. */
  hitSync(point: string): void;
  readonly armed: ReadonlyMap<string, FailpointAction>;
}

const NEVER = new Promise<void>(() => {});

/** Parses `KANADE_FAILPOINTS`; unknown actions are reported in `errors` and ignored. */
export function parseFailpoints(spec: string | undefined): {
  armed: Map<string, FailpointAction>;
  fromHit: Map<string, number>;
  errors: string[];
} {
  const armed = new Map<string, FailpointAction>();
  const fromHit = new Map<string, number>();
  const errors: string[] = [];
  for (const part of (spec ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [point, value] = part.split('=', 2).map((s) => s.trim());
    const [action, nth] = (value ?? '').split('@', 2);
    const from = nth === undefined ? 1 : Number(nth);
    if (!point || !action || (!ACTIONS.includes(action) && !SLEEP.test(action)) || !Number.isSafeInteger(from) || from < 1) {
      errors.push(`ignoring failpoint ${JSON.stringify(part)}: expected <point>=${ACTIONS.join('|')}|sleep<ms>[@N]`);
      continue;
    }
    armed.set(point, action as FailpointAction);
    if (from > 1) fromHit.set(point, from);
  }
  return { armed, fromHit, errors };
}

/** Builds the failpoint registry from a spec string (usually `process.env.KANADE_FAILPOINTS`). */
export function createFailpoints(spec: string | undefined): Failpoints & { errors: string[] } {
  const { armed, fromHit, errors } = parseFailpoints(spec);
  const hits = new Map<string, number>();
  const trigger = (point: string, canHang: boolean): Promise<void> | undefined => {
    const action = armed.get(point);
    if (action === undefined) return undefined;
    const from = fromHit.get(point);
    if (from !== undefined) {
      const n = (hits.get(point) ?? 0) + 1;
      hits.set(point, n);
      if (n < from) return undefined;
    }
    if (action === 'throw-once') armed.delete(point);
    if (action === 'exit') process.exit(1);
    if (action === 'exit64') process.exit(64);
    if (action === 'kill') {
      process.kill(process.pid, 'SIGKILL');
      // Never run another line while the signal is being delivered.
      for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
    }
    const sleep = SLEEP.exec(action);
    if (sleep !== null) return canHang ? new Promise<void>((resolve) => setTimeout(resolve, Number(sleep[1]))) : undefined;
    if (action === 'hang' && canHang) return NEVER;
    throw new FailpointError(point);
  };
  return {
    armed,
    errors,
    hit: async (point) => {
      if (armed.size === 0) return;
      await trigger(point, true);
    },
    hitSync: (point) => {
      // Never a promise here: `hang` is not allowed without await (canHang = false).
      if (armed.size !== 0) void trigger(point, false);
    },
  };
}

/** Failpoints that never fire. */
export const NO_FAILPOINTS: Failpoints = createFailpoints(undefined);
