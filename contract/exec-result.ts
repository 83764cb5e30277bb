/** `ExecResult` (§5.3): one per command, published on `results.<request_id>`. */
import { boolean, decodeJson, field, int32, optional, record, string, type Decoded, type Decoder } from './decode.js';
import { uuid } from './command.js';
import { rfc3339 } from './time.js';

export interface ExecResult {
  readonly result_id: string;
  readonly request_id: string;
  readonly pc_id: string;
  readonly manifest_id: string;
  readonly exec_id?: string;
  readonly exit_code: number;
  readonly skipped: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly stdout_object?: string;
  readonly stderr_object?: string;
}

/** Decodes an ExecResult (outbox files, the `exec` CLI, tests); unknown fields are ignored. */
export const execResult: Decoder<ExecResult> = (value, path) => {
  const obj = record(value, path);
  const result: ExecResult = {
    result_id: field(obj, 'result_id', uuid, path),
    request_id: field(obj, 'request_id', string, path),
    pc_id: field(obj, 'pc_id', string, path),
    manifest_id: field(obj, 'manifest_id', string, path),
    exit_code: field(obj, 'exit_code', int32, path),
    skipped: field(obj, 'skipped', boolean, path),
    stdout: optional(obj, 'stdout', string, path) ?? '',
    stderr: optional(obj, 'stderr', string, path) ?? '',
    started_at: field(obj, 'started_at', rfc3339, path),
    finished_at: field(obj, 'finished_at', rfc3339, path),
  };
  const execId = optional(obj, 'exec_id', string, path);
  const stdoutObject = optional(obj, 'stdout_object', string, path);
  const stderrObject = optional(obj, 'stderr_object', string, path);
  return {
    ...result,
    ...(execId !== undefined && { exec_id: execId }),
    ...(stdoutObject !== undefined && { stdout_object: stdoutObject }),
    ...(stderrObject !== undefined && { stderr_object: stderrObject }),
  };
};

/** Decodes ExecResult JSON bytes. */
export function decodeExecResult(bytes: Uint8Array | string): Decoded<ExecResult> {
  return decodeJson(execResult, bytes);
}

/**
 * The wire form: contract field order, `skipped` always written, `exec_id` and the object pointers
 * only when set, `parent_result_id`/`collect_object` never (§5.3).
 */
export function encodeExecResult(r: ExecResult): string {
  const out: Record<string, unknown> = {
    result_id: r.result_id,
    request_id: r.request_id,
    pc_id: r.pc_id,
    manifest_id: r.manifest_id,
  };
  if (r.exec_id !== undefined) out['exec_id'] = r.exec_id;
  out['exit_code'] = r.exit_code;
  out['skipped'] = r.skipped;
  out['stdout'] = r.stdout;
  out['stderr'] = r.stderr;
  out['started_at'] = r.started_at;
  out['finished_at'] = r.finished_at;
  if (r.stdout_object !== undefined) out['stdout_object'] = r.stdout_object;
  if (r.stderr_object !== undefined) out['stderr_object'] = r.stderr_object;
  return JSON.stringify(out);
}
