/**
 * Answers `agents.<pc_id>.ping` (§3, §5.4) with a fresh heartbeat at once: no `agent_*` perf
 * fields, no `command_protocols`. The keyring is not re-read for a ping (the periodic beat does).
 * Sends `ping.answered` to the machine for its status counters. It subscribes on the broker hub's
 * current connection (the machine runs it only while connected; it holds no connection itself).
 */
import { fromCallback } from 'xstate';
import { encodeHeartbeat, subjects } from '../../contract/index.js';
import type { AgentServices } from '../ports.js';
import { buildHeartbeat } from './build-heartbeat.js';
import { readCommandKeyStatus, type CommandKeyStatusReader } from './command-key-status.js';

/** Input of {@link servePing}. */
export interface ServePingInput {
  readonly services: AgentServices;
}

/** Ping responder logic with an injectable keyring reader. */
export function createServePing(readKeys: CommandKeyStatusReader = readCommandKeyStatus) {
  return fromCallback<{ type: string }, ServePingInput>(({ input, sendBack }) => {
    const { services } = input;
    const broker = services.broker.state();
    // Started only in `online`; a hub that went down meanwhile gets no subscription (the machine leaves `online`).
    if (!broker.connected) return undefined;
    const sub = broker.nc.subscribe(subjects.ping(services.config.pcId), {
      callback: (err, msg) => {
        if (err) {
          services.log.warn({ child: 'heartbeat', err: err.message }, 'ping subscription error');
          return;
        }
        void readKeys(services, { reload: false })
          .then((keys) => {
            const beat = buildHeartbeat({
              pcId: services.config.pcId,
              agentVersion: services.agentVersion,
              keys,
              kind: 'ping',
              atMs: Date.now(),
            });
            if (!msg.respond(encodeHeartbeat(beat))) services.log.warn({ child: 'heartbeat' }, 'ping without a reply subject ignored');
            else sendBack({ type: 'ping.answered' });
          })
          .catch((e: unknown) => services.log.warn({ child: 'heartbeat', err: String(e) }, 'ping reply failed'));
      },
    });
    return () => sub.unsubscribe();
  });
}

/** The default ping responder. */
export const servePing = createServePing();
