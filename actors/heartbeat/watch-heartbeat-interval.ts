/** Sends `config.intervalChanged` whenever the effective `heartbeat_interval` changes (§5.6, applied live). */
import { fromCallback } from 'xstate';
import type { AgentServices } from '../ports.js';

/** Watches the effectiveConfig hub; the first value is sent at once. */
export const watchHeartbeatInterval = fromCallback<{ type: string }, AgentServices>(({ input, sendBack }) => {
  let last: number | undefined;
  return input.effectiveConfig.watch((config) => {
    if (config.heartbeat_interval_ms === last) return;
    last = config.heartbeat_interval_ms;
    sendBack({ type: 'config.intervalChanged', intervalMs: config.heartbeat_interval_ms });
  });
});
