/** `Command` (§5.1) and the v2 `CommandEnvelope` (§5.2), with runtime decoding. */
import {
  anyJson,
  boolean,
  decodeJson,
  fail,
  field,
  nonEmptyString,
  oneOf,
  optional,
  record,
  refine,
  show,
  string,
  unsigned,
  type Decoded,
  type Decoder,
} from './decode.js';
import { ENVELOPE_V2_KIND } from './constants.js';
import { parseDurationMs } from './humantime.js';
import { rfc3339 } from './time.js';

export const SHELLS = ['powershell', 'pwsh', 'cmd', 'sh'] as const;
export type Shell = (typeof SHELLS)[number];
export const RUN_AS = ['system', 'user', 'system_gui'] as const;
export type RunAs = (typeof RUN_AS)[number];

export type Staleness =
  | { readonly mode: 'cached' }
  | { readonly mode: 'strict'; readonly max_cache_age: string; readonly max_cache_age_ms: number }
  | { readonly mode: 'unchecked' };

export interface RetryPolicy {
  readonly max: number;
  readonly backoff_secs: number;
}

/** A legacy Command exactly as on the wire; optional fields absent or null become `undefined`. */
export interface Command {
  readonly id: string;
  readonly version: string;
  readonly request_id: string;
  readonly exec_id?: string;
  readonly shell: Shell;
  readonly script: string;
  readonly script_object?: string;
  readonly script_object_sha256?: string;
  readonly timeout_secs: number;
  readonly jitter_secs?: number;
  readonly run_as: RunAs;
  readonly cwd?: string;
  readonly deadline_at?: string;
  readonly staleness: Staleness;
  readonly retry?: RetryPolicy;
  readonly bypass_local_limit: boolean;
}

/** The v2 envelope: exactly four keys (§5.2). */
export interface CommandEnvelope {
  readonly kind: typeof ENVELOPE_V2_KIND;
  readonly target_pc_id: string;
  readonly expires_at: string;
  readonly command: Command;
}

/** A decoded command body: a legacy Command or a v2 envelope around one. */
export type CommandBody =
  | { readonly protocol: 'legacy'; readonly command: Command }
  | { readonly protocol: 'kanade.command.v2'; readonly envelope: CommandEnvelope; readonly command: Command };

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A hyphenated UUID (the kanade CLI sends v4; any version is accepted). */
export const uuid: Decoder<string> = refine(string, (s) => UUID.test(s), 'expected a UUID');

const staleness: Decoder<Staleness> = (value, path) => {
  const obj = record(value, path);
  const mode = field(obj, 'mode', oneOf(['cached', 'strict', 'unchecked'] as const), path);
  if (mode !== 'strict') return { mode };
  const maxCacheAge = field(obj, 'max_cache_age', string, path);
  const ms = parseDurationMs(maxCacheAge);
  if (ms === undefined) fail(`${path}.max_cache_age`, `expected a humantime duration like "5m", got ${show(maxCacheAge)}`);
  return { mode, max_cache_age: maxCacheAge, max_cache_age_ms: ms };
};

const retry: Decoder<RetryPolicy> = (value, path) => {
  const obj = record(value, path);
  const max = field(obj, 'max', unsigned, path);
  if (max > 0xffff_ffff) fail(`${path}.max`, `expected a u32, got ${max}`);
  return { max, backoff_secs: field(obj, 'backoff_secs', unsigned, path) };
};

/** Decodes a legacy Command; unknown fields are ignored, `job_id` is accepted as an alias of `exec_id`. */
export const command: Decoder<Command> = (value, path) => {
  const obj = record(value, path);
  const execId = optional(obj, 'exec_id', string, path) ?? optional(obj, 'job_id', string, path);
  const scriptObject = optional(obj, 'script_object', nonEmptyString, path);
  const scriptObjectSha = optional(
    obj,
    'script_object_sha256',
    refine(string, (s) => SHA256_HEX.test(s), 'expected 64 lowercase hex characters'),
    path,
  );
  if (scriptObject !== undefined && scriptObjectSha === undefined) {
    fail(path ? `${path}.script_object_sha256` : 'script_object_sha256', 'is required with script_object');
  }
  for (const ignored of ['emit', 'check', 'collect', 'finalize']) optional(obj, ignored, anyJson, path);
  const result: Command = {
    id: field(obj, 'id', string, path),
    version: field(obj, 'version', string, path),
    request_id: field(obj, 'request_id', uuid, path),
    shell: field(obj, 'shell', oneOf(SHELLS), path),
    script: field(obj, 'script', string, path),
    timeout_secs: field(obj, 'timeout_secs', unsigned, path),
    run_as: optional(obj, 'run_as', oneOf(RUN_AS), path) ?? 'system',
    staleness: optional(obj, 'staleness', staleness, path) ?? { mode: 'cached' },
    bypass_local_limit: optional(obj, 'bypass_local_limit', boolean, path) ?? false,
  };
  const extras: Partial<Record<keyof Command, unknown>> = {
    exec_id: execId,
    script_object: scriptObject,
    script_object_sha256: scriptObjectSha,
    jitter_secs: optional(obj, 'jitter_secs', unsigned, path),
    cwd: optional(obj, 'cwd', string, path),
    deadline_at: optional(obj, 'deadline_at', rfc3339, path),
    retry: optional(obj, 'retry', retry, path),
  };
  for (const [key, extra] of Object.entries(extras)) {
    if (extra !== undefined) (result as unknown as Record<string, unknown>)[key] = extra;
  }
  return result;
};

const ENVELOPE_KEYS = ['kind', 'target_pc_id', 'expires_at', 'command'];

/** Decodes a v2 envelope strictly: exactly the four keys, `kind` = `kanade.command.v2` (§5.2, §6.3). */
export const commandEnvelope: Decoder<CommandEnvelope> = (value, path) => {
  const obj = record(value, path);
  const keys = Object.keys(obj);
  const extra = keys.filter((k) => !ENVELOPE_KEYS.includes(k));
  if (extra.length > 0)
    fail(path, `v2 envelope has unexpected key(s) ${extra.join(', ')} (exactly kind, target_pc_id, expires_at, command)`);
  const kind = field(obj, 'kind', string, path);
  if (kind !== ENVELOPE_V2_KIND) fail('kind', `unknown command kind ${show(kind)}`);
  return {
    kind: ENVELOPE_V2_KIND,
    target_pc_id: field(obj, 'target_pc_id', string, path),
    expires_at: field(obj, 'expires_at', rfc3339, path),
    command: field(obj, 'command', command, path),
  };
};

/** Decodes a command body: with a `kind` key it is an envelope (unknown/null/non-string kind rejected), else legacy. */
export const commandBody: Decoder<CommandBody> = (value, path) => {
  const obj = record(value, path);
  if (!('kind' in obj)) return { protocol: 'legacy', command: command(obj, path) };
  if (typeof obj['kind'] !== 'string') fail('kind', `expected the string ${JSON.stringify(ENVELOPE_V2_KIND)}, got ${show(obj['kind'])}`);
  const envelope = commandEnvelope(obj, path);
  return { protocol: ENVELOPE_V2_KIND, envelope, command: envelope.command };
};

/** Decodes the raw bytes of a message on `commands.*`. */
export function decodeCommandBody(bytes: Uint8Array | string): Decoded<CommandBody> {
  return decodeJson(commandBody, bytes);
}

/**
 * Encodes a Command as the kanade CLI sends it: absent `exec_id`/`jitter_secs` as `null`, other
 * optionals omitted, `bypass_local_limit` omitted when false (§5.1).
 */
export function encodeCommand(cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: cmd.id,
    version: cmd.version,
    request_id: cmd.request_id,
    exec_id: cmd.exec_id ?? null,
    shell: cmd.shell,
    script: cmd.script,
    timeout_secs: cmd.timeout_secs,
    jitter_secs: cmd.jitter_secs ?? null,
  };
  if (cmd.script_object !== undefined) out['script_object'] = cmd.script_object;
  if (cmd.script_object_sha256 !== undefined) out['script_object_sha256'] = cmd.script_object_sha256;
  if (cmd.run_as !== 'system') out['run_as'] = cmd.run_as;
  if (cmd.cwd !== undefined) out['cwd'] = cmd.cwd;
  if (cmd.deadline_at !== undefined) out['deadline_at'] = cmd.deadline_at;
  if (cmd.staleness.mode === 'strict') out['staleness'] = { mode: 'strict', max_cache_age: cmd.staleness.max_cache_age };
  else if (cmd.staleness.mode === 'unchecked') out['staleness'] = { mode: 'unchecked' };
  if (cmd.retry !== undefined) out['retry'] = { max: cmd.retry.max, backoff_secs: cmd.retry.backoff_secs };
  if (cmd.bypass_local_limit) out['bypass_local_limit'] = true;
  return out;
}
