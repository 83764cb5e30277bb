/** Builders of the ExecResults the executor sends (§5.3), so every path fills the fields alike. */
import { EXIT_KILLED, formatRfc3339, type Command, type ExecResult } from '../contract/index.js';

/** Identity fields every result of a command shares. */
export interface ResultIdentity {
  readonly resultId: string;
  readonly pcId: string;
  readonly command: Pick<Command, 'request_id' | 'id' | 'exec_id'>;
}

/** A result with the given code, output and times. */
export function buildResult(
  who: ResultIdentity,
  exitCode: number,
  stdout: string,
  stderr: string,
  startedAtMs: number,
  finishedAtMs: number,
  skipped = false,
): ExecResult {
  return {
    result_id: who.resultId,
    request_id: who.command.request_id,
    pc_id: who.pcId,
    manifest_id: who.command.id,
    ...(who.command.exec_id !== undefined && { exec_id: who.command.exec_id }),
    exit_code: exitCode,
    skipped,
    stdout,
    stderr,
    started_at: formatRfc3339(startedAtMs),
    finished_at: formatRfc3339(finishedAtMs),
  };
}

/** A policy skip (§8.1): `skipped: true`, started == finished == now, empty stdout. */
export function skipResult(who: ResultIdentity, exitCode: number, stderr: string, nowMs: number): ExecResult {
  return buildResult(who, exitCode, '', stderr, nowMs, nowMs, true);
}

/** A run that never started or was stopped before spawning: exit -1 with one stderr line. */
export function notRunResult(who: ResultIdentity, stderr: string, nowMs: number, exitCode: number = EXIT_KILLED): ExecResult {
  return buildResult(who, exitCode, '', stderr, nowMs, nowMs, false);
}

/**
 * What the ledger keeps of a result once it is queued (issue #13 item 7): exit code, times, ids and
 * offload keys; the output is replaced by "" (it lives only in the outbox file, bounded by the capture cap).
 */
export function resultMetadata(result: ExecResult): ExecResult {
  return { ...result, stdout: '', stderr: '' };
}
