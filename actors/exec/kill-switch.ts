/**
 * The remote half of a run's kill switch (§3, §8.4): a core subscription on `kill.<exec_id>`,
 * armed with subscribe + flush under `KILL_ARM_TIMEOUT_MS` (else the switch is local only).
 * Any payload is a kill; the switch latches, so the callback fires at most once.
 */
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { KILL_ARM_TIMEOUT_MS, subjects } from '../../contract/index.js';
import type { BrokerPort } from '../ports.js';

/** Arms `kill.<execId>`; returns the disarm function. `onKill` runs at most once. */
export function armKillSwitch(broker: BrokerPort, execId: string, onKill: () => void, log: Logger): () => void {
  let latched = false;
  let disarmed = false;
  let sub: Subscription | undefined;
  const fire = () => {
    if (latched || disarmed) return;
    latched = true;
    onKill();
  };
  const state = broker.state();
  if (!state.connected) {
    log.warn({ exec_id: execId }, 'broker not connected: kill switch is local only for this run');
  } else {
    try {
      sub = state.nc.subscribe(subjects.kill(execId), {
        callback: (err) => {
          if (!err) fire();
        },
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('flush timed out')), KILL_ARM_TIMEOUT_MS);
      });
      Promise.race([state.nc.flush(), timeout])
        .catch((err: Error) =>
          log.warn(
            { exec_id: execId, err: err.message },
            'kill switch not confirmed armed within 2 s: local only until the server sees it',
          ),
        )
        .finally(() => clearTimeout(timer));
    } catch (err) {
      log.warn({ exec_id: execId, err: (err as Error).message }, 'cannot subscribe kill switch: local only');
    }
  }
  return () => {
    disarmed = true;
    try {
      sub?.unsubscribe();
    } catch {
      // The connection may already be closed.
    }
  };
}
