/**
 * Startup recovery of the admission ledger, before intake (§7): `pending` is re-verified and run
 * (or refused with 123), `launching` is reported once as exit 121 with its stored result_id, and a
 * `finished` result that never reached the outbox is re-queued. A result already in the outbox
 * under the record's result_id is never replaced: the record is only marked finished and queued.
 * A result reaches the outbox only after the ledger says `finished` (journaled whole, or written
 * held until the ledger says `finished, queued`), so a `launching` record without a result in the
 * outbox (held or not) means no real result was ever published: its exit 121 is the only outcome of
 * that result_id. A `finished` record holding its whole result (`result_full`) is queued again from
 * it even when a file exists: that file was written without fsync and may be torn.
 */
import { decodeCommandBody, EXIT_RESTARTED_OUTCOME_UNKNOWN, RESTARTED_OUTCOME_UNKNOWN_MESSAGE } from '../../contract/index.js';
import type { ExecRuntime } from './exec-runtime.js';
import type { AdmittedCommand } from './intake-pipeline.js';
import { buildResult } from '../../domain/results.js';

/** What startup recovery uses of the executor's runtime: the ledger, the pipeline and result delivery. */
export type RecoveryRuntime = Pick<ExecRuntime, 'ledger' | 'log' | 'pcId' | 'now' | 'pipeline' | 'deliverResult' | 'releaseResult'> & {
  readonly services: Pick<ExecRuntime['services'], 'outboxes'>;
};

/**
 * Whether a result with `resultId` already waits in the results outbox (or its `stuck/`): then the
 * real result was queued before the stop (SIGKILL between the enqueue and the ledger write, or a
 * failed ledger write) and must not be replaced by a re-queue under the same file name.
 */
async function alreadyQueued(runtime: RecoveryRuntime, resultId: string): Promise<boolean> {
  const has = runtime.services.outboxes.results.has;
  return has === undefined ? false : has.call(runtime.services.outboxes.results, resultId);
}

/** Recovers every unfinished record; returns the pending commands to run now. Deliveries continue in the background. */
export async function recoverLedger(runtime: RecoveryRuntime): Promise<AdmittedCommand[]> {
  const { ledger, log } = runtime;
  const toRun: AdmittedCommand[] = [];
  const results = runtime.services.outboxes.results;
  // Results written held (issue #17 item 2) whose release a stop interrupted: released below, once
  // their records say `finished, queued` (a `launching` record with a held result is marked first).
  const held = new Set(results.listHeld !== undefined ? await results.listHeld.call(results) : []);
  for (const record of await ledger.unfinished()) {
    const rlog = log.child({ request_id: record.request_id, result_id: record.result_id });
    // A record holding its whole result (the journal hand-off) is published from that copy again:
    // an outbox file written without fsync may be missing or torn after a power cut.
    if ((record.state === 'finished' && record.result_full !== true) || record.state === 'launching') {
      let queued: boolean;
      try {
        queued = await alreadyQueued(runtime, record.result_id);
      } catch (err) {
        // Unknown: queuing now could replace the real result; the record is recovered at the next start.
        rlog.error({ err: (err as Error).message }, 'cannot check the results outbox; leaving the record for the next start');
        continue;
      }
      if (queued) {
        rlog.info({ state: record.state }, 'the result is already in the outbox; marking the record finished and queued');
        try {
          await ledger.update(record, { state: 'finished', queued: true });
        } catch (err) {
          // Still held: released at the next start, after this write succeeds.
          rlog.error({ err: (err as Error).message }, 'cannot mark the recovered record finished; its result stays held');
          held.delete(record.result_id);
        }
        continue;
      }
    }
    if (record.state === 'finished') {
      if (record.result === undefined) continue;
      rlog.info({ whole: record.result_full === true }, 're-queuing a finished result that never reached the outbox');
      void runtime.deliverResult(record, record.result);
      continue;
    }
    const body = Buffer.from(record.body_base64, 'base64');
    if (record.state === 'launching') {
      const decoded = decodeCommandBody(body);
      if (!decoded.ok) {
        rlog.error('launching record with an undecodable body; dropped');
        await ledger.remove(record.request_id).catch(() => undefined);
        continue;
      }
      const now = runtime.now();
      const result = buildResult(
        { resultId: record.result_id, pcId: runtime.pcId, command: decoded.value.command },
        EXIT_RESTARTED_OUTCOME_UNKNOWN,
        '',
        RESTARTED_OUTCOME_UNKNOWN_MESSAGE,
        Math.min(record.updated_at_ms, now),
        now,
      );
      rlog.warn('command was running when the agent stopped; reporting exit 121 (outcome unknown)');
      void runtime.deliverResult(record, result);
      continue;
    }
    const decision = await runtime.pipeline({
      subject: record.subject,
      data: body,
      headers: record.headers,
      source: 'recovery',
      receivedAtMs: Date.parse(record.received_at),
    });
    if (decision.command !== undefined) {
      rlog.info('re-verified a pending command from before the restart; running it');
      toRun.push({ command: decision.command, record });
    } else if (!decision.ack) {
      // Refused but the 123 could not be queued: keep the record so the next start queues it.
      rlog.error({ outcome: decision.outcome }, 'pending command refused but its result could not be queued; kept for the next start');
    } else {
      // Refused (123 queued) or no longer decodable: the request_id is not consumed.
      rlog.warn({ outcome: decision.outcome }, 'pending command not run after re-verification');
      await ledger.remove(record.request_id).catch(() => undefined);
    }
  }
  for (const resultId of held) {
    log.info({ result_id: resultId }, 'releasing a result held back when the agent stopped');
    await runtime.releaseResult(resultId);
  }
  return toRun;
}
