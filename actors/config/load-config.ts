/**
 * Reads `agent.toml` (wire contract §11–§13) into one readonly {@link AgentConfig}.
 *
 * Everything the agent takes from its host lives here: the config file, its two templates, the
 * environment (data dir override, NATS credentials, `RUST_LOG`) and the OS defaults. Nothing is
 * logged from here because the logger is configured from the result; notes for the operator travel
 * in `warnings` and `deprecatedGroups` and the caller logs them once the logger exists.
 *
 * @example
 * const config = await loadAgentConfig({ configPath: argv.config, env: process.env });
 * const log = createLogger({ level: config.log.level, destination: config.log.path });
 * for (const warning of config.warnings) log.warn(warning);
 */
import { credentialsFromEnv } from '../nats-options.js';
import { queryRegistryValue } from '../windows-registry.js';
import { access, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { DEFAULT_INVENTORY_INTERVAL_MS, DEFAULT_INVENTORY_JITTER_MS } from '../../contract/constants.js';
import { subjectTokenProblem, suggestSubjectToken } from '../../contract/subject-token.js';
import { DEFAULT_LOG_MAX_SIZE_BYTES } from '../daily-log-file.js';
import { parseDurationMs } from './duration.js';
import { checkKnownKeys } from './known-keys.js';

/** sysexits.h EX_CONFIG: tells the service manager (and the operator) that restarting will not help. */
export const EX_CONFIG = 78;

/** Log levels accepted in `[log] level` and `RUST_LOG`, in pino's names. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Days of daily log files kept when `[log] keep_days` is absent (contract §12). */
export const DEFAULT_LOG_KEEP_DAYS = 14;
/** Smallest accepted `[log] max_size`: a few lines must fit in a file. */
export const MIN_LOG_MAX_SIZE_BYTES = 4 * 1024;
/** What `[log] max_size` must look like. */
const SIZE_EXPECTED = 'a size like "64MiB", "500KiB" or "1GiB" (or an integer number of bytes), at least 4KiB';
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};
const ID_EXPECTED = 'a single NATS subject token (not empty; no ".", "*", ">" or whitespace)';
/** Level used when `[log] level` is missing; the contract requires the key, we only warn. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
/** Marker file whose mere existence enforces signed commands on Linux/macOS (contract §13). */
export const REQUIRE_SIGNED_MARKER_PATH = '/etc/kanade/require-signed-commands';
/** Registry value (under `HKLM\SOFTWARE\kanade\agent`) holding the NATS token on Windows (§2). */
export const NATS_TOKEN_REGISTRY_VALUE = 'NatsToken';
/** Registry value that requests signed-command enforcement on Windows (§6.2), true when 1/true/yes. */
export const REQUIRE_SIGNED_REGISTRY_VALUE = 'RequireSignedCommands';
const REGISTRY_TRUE = new Set(['1', 'true', 'yes']);
/** Status socket on Windows, where a Unix socket under the data dir is not the convention (§13). */
export const WINDOWS_CONTROL_PIPE = '\\\\.\\pipe\\kanade-agent';

const NATS_URL_PROTOCOLS = new Set(['nats:', 'tls:', 'ws:', 'wss:']);
const NATS_URL_EXPECTED = 'a nats://, tls://, ws:// or wss:// URL string or array of them';
const KANADE_NATS_URL_WARNING = 'KANADE_NATS_URL is ignored (wire contract §2); set [agent] nats_url';
/** Longest rendering of an offending value in an error message, so a pasted blob stays readable. */
const MAX_GOT_CHARS = 80;

/** The agent's settings after templates, defaults and environment overrides are applied. */
export interface AgentConfig {
  readonly configPath: string;
  /** `[agent] id`, verbatim and case-sensitive: subjects and the NATS connection name use it. */
  readonly pcId: string;
  readonly natsUrls: readonly string[];
  readonly dataDir: string;
  /** `path` undefined means stdout: none configured, or `keep_days = 0` (contract §12). */
  readonly log: { readonly path?: string; readonly level: LogLevel; readonly keepDays: number; readonly maxSizeBytes?: number };
  readonly security: { readonly commandKeysFile: string; readonly requireSignedCommands: boolean; readonly requireEnvelope?: boolean };
  readonly control: { readonly socket: string };
  readonly inventory: { readonly enabled: boolean; readonly intervalMs: number; readonly jitterMs: number };
  /** From the environment only; contract §2 forbids credentials in `agent.toml`. */
  readonly credentials: {
    readonly token?: string;
    readonly user?: string;
    readonly password?: string;
    readonly caFile?: string;
  };
  /** `[agent] groups` was present: deprecated, ignored, for the caller to log. */
  readonly deprecatedGroups: boolean;
  /** Operator-facing notes the caller should log at warn level. */
  readonly warnings: readonly string[];
}

/** Inputs of {@link loadAgentConfig}; every host fact is injectable so tests never touch /etc. */
export interface LoadAgentConfigOptions {
  /** `--config` from the command line; wins over `KANADE_AGENT_CONFIG`. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** OS hostname; on Windows a non-empty `COMPUTERNAME` is preferred (contract §1). */
  hostname?: string;
  /** Overrides {@link REQUIRE_SIGNED_MARKER_PATH}. */
  requireSignedMarkerPath?: string;
  /** Reads a REG_SZ under `HKLM\SOFTWARE\kanade\agent` (Windows only); `reg query` by default. */
  readRegistry?: (value: string) => Promise<string | undefined>;
}

/** A config problem the agent cannot start with; `exitCode` is EX_CONFIG (78). */
export class ConfigError extends Error {
  readonly exitCode = EX_CONFIG;
  readonly file: string;
  /** The offending key as the contract spells it, e.g. `[agent] nats_url`. */
  readonly key: string | undefined;
  readonly expected: string | undefined;
  readonly line: number | undefined;

  constructor(file: string, detail: string, fields: { key?: string; expected?: string; line?: number; cause?: unknown } = {}) {
    super(`${file}: ${detail}`, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'ConfigError';
    this.file = file;
    this.key = fields.key;
    this.expected = fields.expected;
    this.line = fields.line;
  }
}

/** Loads, templates, parses and validates `agent.toml`, throwing {@link ConfigError} on any problem. */
export async function loadAgentConfig(opts: LoadAgentConfigOptions = {}): Promise<AgentConfig> {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const host = resolveHost(env, platform, opts.hostname);
  const { file, source } = resolveConfigPath(opts.configPath, env, platform);

  const text = await readConfigText(file, source);
  const root = parseToml(file, renderTemplates(file, text, host, env));
  const read = new TableReader(file);
  const warnings: string[] = [];
  const keys = checkKnownKeys(root);
  const keyError = keys.errors[0];
  if (keyError !== undefined) throw new ConfigError(file, keyError.message, { key: keyError.key, expected: 'a known key' });
  for (const warning of keys.warnings) warnings.push(`${file}: ${warning.message}`);

  const agent = read.section(root, 'agent') ?? {};
  const configuredId = read.string(agent, 'agent', 'id');
  const pcId = configuredId ?? host;
  // pc_id goes into every subject (§3) as one token: `heartbeat.<pc_id>`, `inventory.<pc_id>.hw`.
  const idProblem = subjectTokenProblem(pcId);
  if (idProblem !== undefined) {
    if (configuredId !== undefined) {
      read.fail('[agent] id', `${ID_EXPECTED}, e.g. id = ${JSON.stringify(suggestSubjectToken(pcId))} (this one ${idProblem})`, pcId);
    }
    throw new ConfigError(
      file,
      `[agent] id is not set, and the hostname ${JSON.stringify(host)} is not ${ID_EXPECTED} (it ${idProblem}); set it in ${file}: [agent] id = ${JSON.stringify(suggestSubjectToken(host))}`,
      { key: '[agent] id', expected: ID_EXPECTED },
    );
  }
  const natsUrls = read.natsUrls(agent);
  const dataDir = nonEmpty(env.KANADE_AGENT_DATA_DIR) ?? read.path(agent, 'agent', 'data_dir') ?? defaultDataDir(env, platform);

  const log = readLog(read, root, env, warnings);
  const security = read.section(root, 'security') ?? {};
  const markerPath = opts.requireSignedMarkerPath ?? REQUIRE_SIGNED_MARKER_PATH;
  // The marker lets an installer enforce signing without rewriting a config it does not own.
  // §6.2: enforcement is also requested by a marker file (Linux/macOS) or a registry value (Windows).
  const readRegistry = opts.readRegistry ?? queryRegistryValue;
  const markerOn =
    platform === 'win32'
      ? REGISTRY_TRUE.has((await readRegistry(REQUIRE_SIGNED_REGISTRY_VALUE))?.trim().toLowerCase() ?? '')
      : await pathExists(markerPath);
  // §2: the token comes from the registry value NatsToken first, then KANADE_NATS_TOKEN.
  const registryToken = platform === 'win32' ? nonEmpty(await readRegistry(NATS_TOKEN_REGISTRY_VALUE)) : undefined;
  const credentials = credentialsFromEnv(env);
  const control = read.section(root, 'control') ?? {};
  const inventory = read.section(root, 'inventory') ?? {};

  if (nonEmpty(env.KANADE_NATS_URL) !== undefined) warnings.push(KANADE_NATS_URL_WARNING);
  for (const key of ['token', 'user', 'password']) {
    if (agent[key] !== undefined) {
      warnings.push(`[agent] ${key} in ${file} is ignored; NATS credentials come from the environment (wire contract §2)`);
    }
  }

  return Object.freeze({
    configPath: file,
    pcId,
    natsUrls: Object.freeze(natsUrls),
    dataDir,
    log: Object.freeze(log),
    security: Object.freeze({
      commandKeysFile:
        read.path(security, 'security', 'command_keys_file') ?? platformPath(platform).join(configDir(env, platform), 'command-keys.json'),
      requireSignedCommands: (read.bool(security, 'security', 'require_signed_commands') ?? false) || markerOn,
      // §13 (our addition): only v2 envelopes run; legacy bodies are refused with 123.
      requireEnvelope: read.bool(security, 'security', 'require_envelope') ?? false,
    }),
    control: Object.freeze({
      socket:
        read.path(control, 'control', 'socket') ?? (platform === 'win32' ? WINDOWS_CONTROL_PIPE : path.posix.join(dataDir, 'agent.sock')),
    }),
    inventory: Object.freeze({
      enabled: read.bool(inventory, 'inventory', 'enabled') ?? true,
      intervalMs: read.duration(inventory, 'inventory', 'interval', 1) ?? DEFAULT_INVENTORY_INTERVAL_MS,
      jitterMs: read.duration(inventory, 'inventory', 'jitter', 0) ?? DEFAULT_INVENTORY_JITTER_MS,
    }),
    credentials: Object.freeze(registryToken === undefined ? credentials : { ...credentials, token: registryToken }),
    deprecatedGroups: agent.groups !== undefined,
    warnings: Object.freeze(warnings),
  });
}

type Table = Record<string, unknown>;

function readLog(read: TableReader, root: Table, env: NodeJS.ProcessEnv, warnings: string[]): AgentConfig['log'] {
  const section = read.section(root, 'log');
  if (section === undefined) {
    warnings.push(`[log] is missing (required by wire contract §12); logging to stdout at level ${DEFAULT_LOG_LEVEL}`);
  }
  const log = section ?? {};
  let filePath = read.path(log, 'log', 'path');
  // `keep_days = 0` asks for stdout (§12): no path is then expected (the config `dev` writes).
  if (section !== undefined && filePath === undefined && log.keep_days !== 0n) {
    warnings.push('[log] path is missing (required by wire contract §12); logging to stdout');
  }
  let level = read.logLevel(log);
  if (section !== undefined && level === undefined) {
    warnings.push(`[log] level is missing (required by wire contract §12); using ${DEFAULT_LOG_LEVEL}`);
  }
  const rustLog = nonEmpty(env.RUST_LOG)?.trim().toLowerCase();
  if (rustLog !== undefined) {
    // Only a bare level maps onto pino; per-target filters (`kanade=debug,info`) have no equivalent.
    if (isLogLevel(rustLog)) level = rustLog;
    else warnings.push(`RUST_LOG=${JSON.stringify(env.RUST_LOG)} is not a plain level word (${LOG_LEVELS.join('/')}); ignored`);
  }
  const keepDays = read.nonNegativeInt(log, 'log', 'keep_days') ?? DEFAULT_LOG_KEEP_DAYS;
  if (keepDays === 0) filePath = undefined;
  const maxSizeBytes = read.size(log, 'log', 'max_size') ?? DEFAULT_LOG_MAX_SIZE_BYTES;
  return { ...(filePath === undefined ? {} : { path: filePath }), level: level ?? DEFAULT_LOG_LEVEL, keepDays, maxSizeBytes };
}

function resolveHost(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, hostname: string | undefined): string {
  // Production pc_ids are `$env:COMPUTERNAME` on Windows (contract §1), which can differ from gethostname.
  const computerName = platform === 'win32' ? nonEmpty(env.COMPUTERNAME) : undefined;
  return computerName ?? hostname ?? os.hostname();
}

function resolveConfigPath(cli: string | undefined, env: NodeJS.ProcessEnv, platform: NodeJS.Platform): { file: string; source: string } {
  const fromCli = nonEmpty(cli);
  if (fromCli !== undefined) return { file: fromCli, source: '--config' };
  const fromEnv = nonEmpty(env.KANADE_AGENT_CONFIG);
  if (fromEnv !== undefined) return { file: fromEnv, source: 'KANADE_AGENT_CONFIG' };
  return { file: platformPath(platform).join(configDir(env, platform), 'agent.toml'), source: 'default path' };
}

/** The OS default path of agent.toml (contract §11), ignoring --config and KANADE_AGENT_CONFIG. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  return platformPath(platform).join(configDir(env, platform), 'agent.toml');
}

function configDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.win32.join(programData(env), 'Kanade', 'config') : '/etc/kanade';
}

function defaultDataDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.win32.join(programData(env), 'Kanade', 'data') : '/var/lib/kanade';
}

function programData(env: NodeJS.ProcessEnv): string {
  // process.env is case-insensitive on Windows, an injected env is not.
  return nonEmpty(env.ProgramData) ?? nonEmpty(env.PROGRAMDATA) ?? 'C:\\ProgramData';
}

function platformPath(platform: NodeJS.Platform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

async function readConfigText(file: string, source: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail =
      code === 'ENOENT'
        ? `config file not found (${source}; pass --config or set KANADE_AGENT_CONFIG)`
        : `cannot read config file (${source}): ${(err as Error).message}`;
    throw new ConfigError(file, detail, { expected: 'a readable TOML file', cause: err });
  }
}

const TEMPLATE = /\{\{(.*?)\}\}/g;
/** Tera syntax we do not implement; accepting it literally would diverge from the backend's renderer. */
const OTHER_TEMPLATE_SYNTAX = /\{\{|\{%|\{#/;
const SYSTEM_HOST = /^\s*system\.host\s*$/;
const ENV_CALL = /^\s*env\s*\((.*)\)\s*$/;
const KWARG = /\s*(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(,|$)/y;

/** Expands `{{ system.host }}` and `{{ env(name="X", default="Y") }}` (contract §12); anything else is an error. */
function renderTemplates(file: string, text: string, host: string, env: NodeJS.ProcessEnv): string {
  const stray = OTHER_TEMPLATE_SYNTAX.exec(text.replace(TEMPLATE, (m) => ' '.repeat(m.length)));
  if (stray !== null) {
    const line = lineAt(text, stray.index);
    throw new ConfigError(
      file,
      `line ${line}: unsupported template syntax ${JSON.stringify(stray[0])} (only {{ system.host }} and {{ env(...) }} on one line)`,
      { line },
    );
  }
  return text.replace(TEMPLATE, (whole: string, inner: string, offset: number) => {
    const line = lineAt(text, offset);
    if (SYSTEM_HOST.test(inner)) return host;
    const call = ENV_CALL.exec(inner);
    if (call === null) {
      throw new ConfigError(
        file,
        `line ${line}: unsupported template ${whole} (only {{ system.host }} and {{ env(name="X", default="Y") }})`,
        { line },
      );
    }
    const args = parseKwargs(call[1] ?? '');
    const name = args?.get('name');
    if (args === undefined || name === undefined || name.length === 0 || [...args.keys()].some((k) => k !== 'name' && k !== 'default')) {
      throw new ConfigError(file, `line ${line}: malformed template ${whole} (expected env(name="X", default="Y"))`, { line });
    }
    const value = env[name] ?? args.get('default');
    if (value === undefined) {
      throw new ConfigError(file, `line ${line}: template ${whole}: environment variable ${name} is not set and has no default`, { line });
    }
    return value;
  });
}

function parseKwargs(source: string): Map<string, string> | undefined {
  const args = new Map<string, string>();
  KWARG.lastIndex = 0;
  while (KWARG.lastIndex < source.length) {
    const m = KWARG.exec(source);
    if (m === null || m[1] === undefined || args.has(m[1])) return undefined;
    args.set(m[1], m[2] ?? m[3] ?? '');
    if (m[4] === '') break;
  }
  return args;
}

function lineAt(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

function parseToml(file: string, text: string): Table {
  try {
    // BigInt integers let `keep_days = 14.0` be told apart from `14`.
    return parse(text, { integersAsBigInt: true }) as Table;
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
    throw new ConfigError(file, `line ${err.line}, column ${err.column}: invalid TOML: ${reason}\n${err.codeblock.trimEnd()}`, {
      line: err.line,
      expected: 'valid TOML',
      cause: err,
    });
  }
}

/** Typed reads of optional keys; a present key of the wrong type is always an error naming it. */
class TableReader {
  constructor(private readonly file: string) {}

  fail(key: string, expected: string, got: unknown): never {
    throw new ConfigError(this.file, `${key}: expected ${expected}, got ${describe(got)}`, { key, expected });
  }

  section(root: Table, name: string): Table | undefined {
    const value = root[name];
    if (value === undefined) return undefined;
    return isTable(value) ? value : this.fail(`[${name}]`, 'a table', value);
  }

  string(t: Table, section: string, key: string): string | undefined {
    const value = t[key];
    if (value === undefined || typeof value === 'string') return value;
    return this.fail(`[${section}] ${key}`, 'a string', value);
  }

  path(t: Table, section: string, key: string): string | undefined {
    const value = t[key];
    if (value === undefined || (typeof value === 'string' && value.length > 0)) return value;
    return this.fail(`[${section}] ${key}`, 'a non-empty path string', value);
  }

  bool(t: Table, section: string, key: string): boolean | undefined {
    const value = t[key];
    if (value === undefined || typeof value === 'boolean') return value;
    return this.fail(`[${section}] ${key}`, 'a boolean (true or false)', value);
  }

  nonNegativeInt(t: Table, section: string, key: string): number | undefined {
    const value = t[key];
    if (value === undefined) return undefined;
    if (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
    return this.fail(`[${section}] ${key}`, 'an integer ≥ 0', value);
  }

  size(t: Table, section: string, key: string): number | undefined {
    const value = t[key];
    if (value === undefined) return undefined;
    const bytes = parseSize(value);
    if (bytes !== undefined && bytes >= MIN_LOG_MAX_SIZE_BYTES) return bytes;
    return this.fail(`[${section}] ${key}`, SIZE_EXPECTED, value);
  }

  duration(t: Table, section: string, key: string, minMs: number): number | undefined {
    const value = t[key];
    if (value === undefined) return undefined;
    const ms = typeof value === 'string' ? parseDurationMs(value) : undefined;
    if (ms !== undefined && ms >= minMs) return ms;
    const expected = minMs > 0 ? 'a positive humantime duration string like "24h"' : 'a humantime duration string like "10m"';
    return this.fail(`[${section}] ${key}`, expected, value);
  }

  logLevel(t: Table): LogLevel | undefined {
    const value = t.level;
    if (value === undefined) return undefined;
    const level = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
    if (level !== undefined && isLogLevel(level)) return level;
    return this.fail('[log] level', `one of ${LOG_LEVELS.join(', ')}`, value);
  }

  natsUrls(agent: Table): string[] {
    const value = agent.nats_url;
    const list = typeof value === 'string' ? [value] : Array.isArray(value) && value.length > 0 ? value : undefined;
    if (list === undefined) return this.fail('[agent] nats_url', NATS_URL_EXPECTED, value);
    list.forEach((url, i) => {
      const key = Array.isArray(value) ? `[agent] nats_url[${i}]` : '[agent] nats_url';
      if (!isNatsUrl(url)) this.fail(key, NATS_URL_EXPECTED, url);
      // §2: credentials never go in agent.toml; the URL would carry them into logs and the inspector.
      if (hasUserinfo(url))
        this.fail(
          key,
          `${NATS_URL_EXPECTED} without user:password@ (credentials come from the environment, wire contract §2)`,
          redactUserinfo(url),
        );
    });
    return list as string[];
  }
}

/** `"64MiB"` → 67108864; units are powers of 1024 (`KB` = `KiB`); a TOML integer is bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'bigint') return value > 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m === null ? undefined : SIZE_UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

function isNatsUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return NATS_URL_PROTOCOLS.has(url.protocol) && url.hostname.length > 0;
  } catch {
    return false;
  }
}

function hasUserinfo(value: string): boolean {
  const url = new URL(value);
  return url.username.length > 0 || url.password.length > 0;
}

/** The URL with its userinfo replaced, so the error line never repeats a secret. */
function redactUserinfo(value: string): string {
  const url = new URL(value);
  url.username = 'REDACTED';
  url.password = '';
  return url.toString();
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (key missing)';
  if (value instanceof Date) return `a datetime ${value.toISOString()}`;
  if (isTable(value)) return 'a table';
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)) ?? String(value);
  return text.length > MAX_GOT_CHARS ? `${text.slice(0, MAX_GOT_CHARS)}…` : text;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Whether `file` exists (any type); an unreadable parent counts as absent. */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
