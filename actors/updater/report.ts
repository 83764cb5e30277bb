/**
 * The `report` effect: the updater's one way to speak — a log line, and for the `agent_update_*`
 * kinds an obs event through the durable obs outbox (§5.8, source `agent:self_update`). Never
 * rejects: a full disk costs the event, logged, never the update.
 */
import { fromPromise } from 'xstate';
import { OBS_SOURCE_SELF_UPDATE, formatRfc3339 } from '../../contract/index.js';
import { uuidV4 } from '../ids.js';
import type { UpdaterPorts, UpdaterReport } from './updater-types.js';

/** Logs `report` and queues its obs event, if any. */
export async function sendReport(
  ports: Pick<UpdaterPorts, 'log' | 'obs' | 'pcId'>,
  report: UpdaterReport,
  now: number = Date.now(),
): Promise<void> {
  ports.log[report.level]({ child: 'updater', ...report.fields, ...(report.obs && { obs_kind: report.obs.kind }) }, report.msg);
  if (report.obs === undefined) return;
  try {
    await ports.obs.enqueue({
      pc_id: ports.pcId,
      at: formatRfc3339(now),
      kind: report.obs.kind,
      source: OBS_SOURCE_SELF_UPDATE,
      event_record_id: `self_update_${uuidV4()}`,
      payload: report.obs.payload,
    });
  } catch (error) {
    ports.log.error({ child: 'updater', kind: report.obs.kind, err: (error as Error).message }, 'cannot queue the self-update obs event');
  }
}

export const report = fromPromise<void, { readonly ports: UpdaterPorts; readonly report: UpdaterReport }>(({ input }) =>
  sendReport(input.ports, input.report),
);
