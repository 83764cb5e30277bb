/**
 * Bounded polling for tests: the one way specs wait for something the real broker or a real
 * process does (never fixed sleeps). A probe that throws counts as "not yet" (a broker being
 * restarted refuses requests for a while); the last error is in the timeout message.
 *
 * @example
 * const msg = await pollUntil('the first heartbeat', 5_000, () => beats[0]);
 */

/** Polls `probe` every `intervalMs` until it returns something other than undefined/false/null; throws after `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false && value !== null) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? `error: ${error.message}` : error;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
