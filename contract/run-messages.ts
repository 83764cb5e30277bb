/**
 * The exact stderr texts of the executor (§5.3, §8.1–§8.5), as pure builders so every producer
 * (the run machine, the ledger recovery, tests) writes byte-identical lines.
 *
 * @example
 * stalenessSkipMessage(90_000, 60_000)
 * // "skipped: staleness policy (mode=strict) exceeded — agent has been disconnected for 1m 30s, max allowed 1m"
 */
import { formatDuration } from './humantime.js';

/** stderr of the exit-121 result reported for a record left in `launching` (§5.3). */
export const RESTARTED_OUTCOME_UNKNOWN_MESSAGE = 'agent restarted during execution; outcome unknown';
/** stderr of a command killed while it waited for a local slot (§8.2). */
export const KILLED_WAITING_FOR_SLOT_MESSAGE = 'killed while waiting for local job slot';
/** stderr of a deadline that passed while the command waited for a slot (§8.2). */
export const DEADLINE_WHILE_WAITING_FOR_SLOT_MESSAGE = 'skipped: starting deadline expired while waiting for local job slot';
/** stderr of a command admitted while too many runs already wait to start (issue #13 item 7, our choice; exit -1). */
export const LOCAL_QUEUE_FULL_MESSAGE = 'refused: local queue full';
/** stderr line of a run ended by the agent's own shutdown (§8.4, our choice). */
export const SHUTDOWN_KILL_MESSAGE = 'killed: agent shutting down';

/** 127: strict staleness exceeded (§8.1); `disconnectedMs` may be Infinity (never connected). */
export function stalenessSkipMessage(disconnectedMs: number, maxAllowedMs: number): string {
  return `skipped: staleness policy (mode=strict) exceeded — agent has been disconnected for ${formatDuration(disconnectedMs)}, max allowed ${formatDuration(maxAllowedMs)}`;
}

/** 124: `script_current[id]` differs from the command's version (§8.1). */
export function versionPinSkipMessage(manifestId: string, current: string, brought: string): string {
  return `skipped: version-pin mismatch — script_current[${manifestId}] = ${current}, command brought ${brought}`;
}

/** 126: `script_status[id]` is REVOKED (§8.1). */
export function revokedSkipMessage(manifestId: string): string {
  return `skipped: command was revoked (script_status[${manifestId}] = revoked)`;
}

/** 125: the start deadline passed `lateMs` ago; `deadlineAt` and `receivedAt` are echoed verbatim (§8.1). */
export function deadlineSkipMessage(lateMs: number, deadlineAt: string, receivedAt: string): string {
  return `skipped: starting deadline expired ${formatDuration(lateMs)} ago (deadline ${deadlineAt}, received ${receivedAt})`;
}

/** -1: the run hit `timeout_secs` (§8.4). */
export function timeoutMessage(timeoutSecs: number): string {
  return `timeout after ${timeoutSecs}s`;
}

/** -1: `kill.<exec_id>` arrived (§8.4). */
export function remoteKillMessage(execId: string): string {
  return `killed by remote signal (kill.${execId})`;
}

/** -1: `run_as` other than `system` (§8.3). */
export function runAsUnsupportedMessage(runAs: string): string {
  return `run_as=${runAs} is not supported by this agent`;
}

/** -1: the shell could not be started (§8.3). */
export function spawnFailedMessage(shell: string, error: string): string {
  return `failed to start ${shell}: ${error}`;
}

/** -1: `script_object` could not be fetched or did not match its SHA-256 (§8.3). */
export function scriptObjectFailedMessage(key: string, reason: string): string {
  return `script_object ${key}: ${reason}`;
}

/** Retry note after a run that eventually exited 0 (§8.4). */
export function retrySucceededNote(retries: number): string {
  return `succeeded after ${retries} ${retries === 1 ? 'retry' : 'retries'} (#418 on_failure.retry)`;
}

/** Retry note after the last allowed attempt also failed (§8.4, our choice). */
export function retryExhaustedNote(retries: number): string {
  return `failed after ${retries} retries exhausted (#418 on_failure.retry)`;
}

/** Retry note when a remote kill ended the retries (§8.4, our choice). */
export function retryKilledNote(retries: number): string {
  return `stopped by remote kill after ${retries} retries`;
}

/** The two marker lines that join the kept head and tail of a capped stream (§8.5). */
export function truncationMarker(totalBytes: number, droppedBytes: number, headBytes: number, tailBytes: number): string {
  return (
    `[kanade] output truncated: ${totalBytes} bytes written, ${droppedBytes} dropped (kept the first ${headBytes} and last ${tailBytes}).\n` +
    '[kanade] write large output to a file instead of stdout/stderr.\n'
  );
}

/** Appends `line` to captured stderr on a line of its own. */
export function appendStderrLine(stderr: string, line: string): string {
  if (stderr.length === 0) return line;
  return stderr.endsWith('\n') ? `${stderr}${line}` : `${stderr}\n${line}`;
}
