/**
 * The `agent_online` ObsEvent (§5.8), written to the obs outbox once per agent start (the outbox
 * delivers it whenever the broker is reachable). A restarted heartbeat child does not announce
 * again: the services object identifies one agent run.
 */
import { fromPromise } from 'xstate';
import { formatRfc3339, OBS_SOURCE_STARTUP, type ObsEvent } from '../../contract/index.js';
import { uuidV4 } from '../ids.js';
import type { AgentServices } from '../ports.js';

const announced = new WeakSet<AgentServices>();

/** The startup event for this agent run. */
export function agentOnlineEvent(services: AgentServices, atMs: number = Date.now()): ObsEvent {
  return {
    pc_id: services.config.pcId,
    at: formatRfc3339(atMs),
    kind: 'agent_online',
    source: OBS_SOURCE_STARTUP,
    event_record_id: `startup_${uuidV4()}`,
    payload: { agent_version: services.agentVersion },
  };
}

/** Enqueues `agent_online` unless this agent run already did; resolves `true` when it enqueued now. */
export const announceOnline = fromPromise<boolean, AgentServices>(async ({ input }) => {
  if (announced.has(input)) return false;
  announced.add(input); // before the await: a concurrent second child must not announce too
  try {
    await input.outboxes.obs.enqueue(agentOnlineEvent(input));
  } catch (err) {
    announced.delete(input);
    throw err;
  }
  return true;
});
