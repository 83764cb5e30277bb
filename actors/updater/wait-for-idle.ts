/**
 * The `waitForIdle` effect: every `pollMs` sends `commands.drained` or `commands.counted` from the
 * executor's published status (`running`: the request_ids of live runs) — the same read-only view
 * `kanade-agent status` has; no reference to the sibling is kept. No executor (stopped or
 * restarting) means no runs.
 */
import { fromCallback, type AnyActorRef, type EventObject } from 'xstate';
import type { IdleEvent } from './updater-types.js';

/** systemId of the child whose runs are waited for (supervisor/children.ts). */
export const EXECUTOR_SYSTEM_ID = 'executor';

/** Commands running now according to the executor's status, 0 when it is not there. */
export function runningCommands(executor: AnyActorRef | undefined): number {
  if (executor === undefined) return 0;
  const snapshot = executor.getSnapshot() as { status?: string; context?: { status?: { running?: unknown } } };
  if (snapshot.status !== 'active') return 0;
  const running = snapshot.context?.status?.running;
  return Array.isArray(running) ? running.length : 0;
}

export const waitForIdle = fromCallback<EventObject, { readonly pollMs: number }>(({ input, sendBack, system }) => {
  const poll = (): void => {
    const running = runningCommands(system.get(EXECUTOR_SYSTEM_ID) as AnyActorRef | undefined);
    sendBack((running === 0 ? { type: 'commands.drained' } : { type: 'commands.counted', running }) satisfies IdleEvent);
  };
  poll();
  const timer = setInterval(poll, input.pollMs);
  return () => clearInterval(timer);
});
