/**
 * One periodic heartbeat tick (§5.4): hits the `heartbeat.tick` failpoint, re-reads the keyring,
 * samples the agent's own resource use and core-publishes on `heartbeat.<pc_id>`. A failed publish
 * is a result, not a crash (the next tick tries again; nothing is queued); only the failpoint throws.
 * It publishes on the broker hub's current connection (the machine holds none).
 *
 * @example
 * invoke: { id: 'publishHeartbeat', src: 'publishHeartbeat', input: ({ context }) => ({ services, previous }) }
 */
import { fromPromise } from 'xstate';
import { encodeHeartbeat, subjects } from '../../contract/index.js';
import type { AgentServices } from '../ports.js';
import { buildHeartbeat } from './build-heartbeat.js';
import { readCommandKeyStatus, type CommandKeyStatusReader } from './command-key-status.js';
import { samplePerf, type PerfCounters } from './perf-sample.js';
import { readQuarantine } from '../updater/install-state.js';

/** Name of the failpoint hit at every tick (process-level supervisor tests arm it). */
export const HEARTBEAT_TICK_FAILPOINT = 'heartbeat.tick';

/** Input of a tick. */
export interface PublishHeartbeatInput {
  readonly services: AgentServices;
  readonly previous: PerfCounters | null;
}

/** Outcome of a tick. */
export type PublishHeartbeatOutput =
  | { readonly ok: true; readonly at: string; readonly sample: PerfCounters }
  | { readonly ok: false; readonly error: string; readonly sample: PerfCounters | null };

/** Tick logic with an injectable keyring reader (the default reads the agent's keyring). */
export function createPublishHeartbeat(readKeys: CommandKeyStatusReader = readCommandKeyStatus) {
  return fromPromise<PublishHeartbeatOutput, PublishHeartbeatInput>(async ({ input }) => {
    const { services } = input;
    await services.failpoints.hit(HEARTBEAT_TICK_FAILPOINT);
    const keys = await readKeys(services, { reload: true });
    const perf = samplePerf(input.previous);
    // §5.4 quarantined_versions: what the boot sentinel rolled back here (docs/updater.md).
    const quarantinedVersions = (await readQuarantine(services.config.dataDir)).value;
    const beat = buildHeartbeat({
      pcId: services.config.pcId,
      agentVersion: services.agentVersion,
      keys,
      perf,
      kind: 'periodic',
      atMs: Date.now(),
      quarantinedVersions,
    });
    try {
      // Never publish into a closed client: nats.js would throw; a stale queued beat is worse than none.
      const broker = services.broker.state();
      if (!broker.connected || broker.nc.isClosed()) throw new Error('connection closed');
      broker.nc.publish(subjects.heartbeat(services.config.pcId), encodeHeartbeat(beat));
      return { ok: true, at: beat.at, sample: perf.sample };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err), sample: perf.sample };
    }
  });
}

/** The default tick logic. */
export const publishHeartbeat = createPublishHeartbeat();
