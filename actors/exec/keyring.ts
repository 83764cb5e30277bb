/**
 * The command keyring (§6.2): keys from `[security] command_keys_file`, reloaded each heartbeat, when
 * the file's mtime/size changed (a `stat` before each verification) and on an unknown kid
 * (rate-limited), and the enforcement flag. One instance per agent process, shared by the executor
 * (verification), the heartbeat (`command_keys`, `enforcing`) and `status`: get it with
 * {@link keyringFor}.
 *
 * Fail closed (§6.2, our choice): `enforcing` = requested. Requested with an empty, missing or
 * unreadable ring refuses every command, logs an error and makes `status` degraded. A file (or its
 * directory) not owned by the agent's user, or writable by group/other, is a bad file: a local user
 * who could write it could add a key and run commands as root.
 *
 * @example
 * const ring = keyringFor(services);
 * await ring.reload();
 * heartbeat.command_keys = ring.fingerprints(); heartbeat.enforcing = ring.enforcing();
 */
import { createHash, type KeyObject } from 'node:crypto';
import { statSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { decodeCommandKeys, describeDecodeError, type CommandKey } from '../../contract/index.js';
import type { AgentConfig } from '../config/load-config.js';
import { publicKeyFromRaw } from '../ed25519.js';
import { untrusted } from '../private-files.js';
import { KANADE_AGENT_REGISTRY_KEY, parseRegQuery, queryRegistryValue } from '../windows-registry.js';

/** Unknown-kid reloads happen at most this often when not enforcing (§6.2). */
export const UNKNOWN_KID_RELOAD_INTERVAL_MS = 30_000;
/** Unknown-kid reloads happen at most this often when enforcing (§6.2). */
export const UNKNOWN_KID_RELOAD_INTERVAL_ENFORCING_MS = 1_000;
/** Hex characters of SHA-256(raw key) in a fingerprint (§5.4). */
const FINGERPRINT_HEX_CHARS = 16;

/** One usable key of the ring. */
export interface RingKey {
  readonly kid: string;
  readonly publicKey: KeyObject;
  readonly fingerprint: string;
  readonly maxAgeSecs?: number;
  readonly auditEveryUse: boolean;
}

/** The keyring API used by the executor and the heartbeat. */
export interface Keyring {
  /** Re-reads the file; a bad file keeps the old ring (logged). Never rejects. */
  reload(): Promise<void>;
  /** `["<kid>:<first 16 hex of sha256(raw key)>"]` in file order, `[]` if none (§5.4). */
  fingerprints(): string[];
  /** Enforcement requested (§6.2, our choice: whatever the ring holds). */
  enforcing(): boolean;
  /** True when enforcement is requested and the ring is empty (missing, empty, bad at start): every command is refused. */
  refusingAll(): boolean;
  /** Why every command is refused (for `status`), or null. */
  problem(): string | null;
  /** Re-reads the ring when the file's identity, mtime or size changed since the last read (one `stat`). Never rejects. */
  refreshIfChanged(): Promise<void>;
  /** Keys in the ring (0 when empty). */
  size(): number;
  /** The key for `kid`, or undefined. */
  lookup(kid: string): RingKey | undefined;
  /** Reloads for an unknown kid unless one happened within the rate limit; true if it reloaded. */
  reloadForUnknownKid(kid: string): Promise<boolean>;
}

/** Registry key and value Windows installers write the ring to (§6.2). */
export const WINDOWS_KEYRING_REGISTRY = { key: KANADE_AGENT_REGISTRY_KEY, value: 'CommandKeys' } as const;
export { parseRegQuery };

/** Options of {@link createKeyring}; `now`, `platform` and `readRegistry` are injectable for tests. */
export interface KeyringOptions {
  readonly file: string;
  readonly requireSigned: boolean;
  readonly log: Logger;
  readonly now?: () => number;
  readonly platform?: NodeJS.Platform;
  /** Reads the REG_SZ `CommandKeys`; undefined when absent. Default: `reg query` (Windows only). */
  readonly readRegistry?: () => Promise<string | undefined>;
}

/** `reg query HKLM\SOFTWARE\kanade\agent /v CommandKeys`; undefined when the key or value is absent. */
export function queryRegistryKeyring(): Promise<string | undefined> {
  return queryRegistryValue(WINDOWS_KEYRING_REGISTRY.value, WINDOWS_KEYRING_REGISTRY.key);
}

/** Loads the ring once (missing file = empty ring) and returns the live keyring. */
export async function createKeyring(opts: KeyringOptions): Promise<Keyring> {
  const now = opts.now ?? Date.now;
  const platform = opts.platform ?? process.platform;
  let keys: RingKey[] = [];
  /** Why the ring is empty (missing, empty, bad at start); null while it holds keys. */
  let emptyBecause: string | null = null;
  let lastUnknownKidReload = Number.NEGATIVE_INFINITY;
  /** `ino:size:mtime` of the file at the last read ('' = absent); compared by {@link Keyring.refreshIfChanged}. */
  let seen: string | undefined;
  let reloading: Promise<void> | undefined;

  const read = async (): Promise<{ ok: true; keys: RingKey[]; empty: string | null } | { ok: false; reason: string }> => {
    let bytes: Buffer | string;
    try {
      const dirProblem = await untrustedDir(path.dirname(opts.file), platform);
      if (dirProblem !== undefined) return { ok: false, reason: dirProblem };
      // Checked on the open handle, so the file read is the file checked.
      const handle = await open(opts.file, 'r');
      try {
        const st = await handle.stat();
        seen = identity(st);
        const fileProblem = untrusted(st, 'the keyring file', platform);
        if (fileProblem !== undefined) return { ok: false, reason: fileProblem };
        bytes = await handle.readFile();
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: false, reason: (err as Error).message };
      seen = '';
      // No file: on Windows the installer may have written the same JSON to the registry (§6.2).
      const fromRegistry = platform === 'win32' ? await (opts.readRegistry ?? queryRegistryKeyring)() : undefined;
      if (fromRegistry === undefined) return { ok: true, keys: [], empty: `the keyring file ${opts.file} does not exist` };
      bytes = fromRegistry;
    }
    const decoded = decodeCommandKeys(bytes);
    if (!decoded.ok) return { ok: false, reason: describeDecodeError(decoded.error) };
    return {
      ok: true,
      keys: decoded.value.map(toRingKey),
      empty: decoded.value.length === 0 ? `the keyring file ${opts.file} holds no keys` : null,
    };
  };

  /** One error line each time the ring turns unusable while enforcement is requested. */
  const noteEmpty = (reason: string | null) => {
    const was = emptyBecause;
    emptyBecause = reason;
    if (reason !== null && reason !== was && opts.requireSigned) {
      opts.log.error(
        { file: opts.file, reason },
        'command keyring empty or unusable and signed commands are required: refusing every command',
      );
    }
  };

  const first = await read();
  if (first.ok) {
    keys = first.keys;
    noteEmpty(first.empty);
  } else if (opts.requireSigned) {
    noteEmpty(`the keyring file ${opts.file} is unusable: ${first.reason}`);
  } else {
    emptyBecause = `the keyring file ${opts.file} is unusable: ${first.reason}`;
    opts.log.error({ file: opts.file, reason: first.reason }, 'command keyring unreadable at start; continuing with an empty ring');
  }

  const ring: Keyring = {
    async reload() {
      const next = await read();
      if (!next.ok) {
        // §6.2: a bad file on reload keeps the old ring (an emptied ring already refuses all).
        opts.log.warn({ file: opts.file, reason: next.reason }, 'command keyring unreadable on reload; keeping the previous ring');
        return;
      }
      const before = ring.fingerprints().join(',');
      keys = next.keys;
      noteEmpty(next.empty);
      if (ring.fingerprints().join(',') !== before) opts.log.info({ keys: ring.fingerprints() }, 'command keyring changed');
    },
    async refreshIfChanged() {
      if (reloading !== undefined) return reloading;
      // Asked once per command, before its admission: one synchronous stat (microseconds) instead
      // of a thread-pool round trip on the command path.
      let current: string | undefined;
      try {
        const st = statSync(opts.file, { throwIfNoEntry: false });
        current = st === undefined ? '' : identity(st);
      } catch {
        current = undefined;
      }
      if (current !== undefined && current === seen) return;
      // Remembered even when the reload refuses the file, so a bad file is re-read (and logged) once per change.
      if (current !== undefined) seen = current;
      reloading = ring.reload().finally(() => {
        reloading = undefined;
      });
      return reloading;
    },
    fingerprints: () => keys.map((k) => `${k.kid}:${k.fingerprint}`),
    enforcing: () => opts.requireSigned,
    refusingAll: () => opts.requireSigned && keys.length === 0,
    problem: () =>
      opts.requireSigned && keys.length === 0
        ? `signed commands are required but no command key is usable: ${emptyBecause ?? 'the ring is empty'}`
        : null,
    size: () => keys.length,
    lookup: (kid) => keys.find((k) => k.kid === kid),
    async reloadForUnknownKid(kid) {
      const interval = ring.enforcing() ? UNKNOWN_KID_RELOAD_INTERVAL_ENFORCING_MS : UNKNOWN_KID_RELOAD_INTERVAL_MS;
      const t = now();
      if (t - lastUnknownKidReload < interval) return false;
      lastUnknownKidReload = t;
      opts.log.info({ kid }, 'unknown command key id; reloading the keyring');
      await ring.reload();
      return true;
    },
  };
  return ring;
}

/** The part of a file's stat that changes when it is replaced or rewritten. */
function identity(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

async function untrustedDir(dir: string, platform: NodeJS.Platform): Promise<string | undefined> {
  if (platform === 'win32') return undefined;
  const st = await stat(dir).catch(() => undefined);
  return st === undefined ? undefined : untrusted(st, `the keyring directory ${dir}`, platform);
}

function toRingKey(key: CommandKey): RingKey {
  const raw = Buffer.from(key.public_key, 'base64');
  return {
    kid: key.kid,
    publicKey: publicKeyFromRaw(raw),
    fingerprint: createHash('sha256').update(raw).digest('hex').slice(0, FINGERPRINT_HEX_CHARS),
    ...(key.max_age_secs !== undefined && { maxAgeSecs: key.max_age_secs }),
    auditEveryUse: key.audit_every_use === true,
  };
}

const shared = new WeakMap<AgentConfig, Promise<Keyring>>();
const loaded = new WeakMap<AgentConfig, Keyring>();

/** The keyring for this config once it has loaded (for `status`, which cannot wait); else undefined. */
export function keyringIfLoaded(config: AgentConfig): Keyring | undefined {
  return loaded.get(config);
}

/** The process-wide keyring for this agent config (created on first use, then shared). */
export function keyringFor(services: { readonly config: AgentConfig; readonly log: Logger }): Promise<Keyring> {
  let ring = shared.get(services.config);
  if (ring === undefined) {
    ring = createKeyring({
      file: services.config.security.commandKeysFile,
      requireSigned: services.config.security.requireSignedCommands,
      log: services.log,
    });
    const config = services.config;
    void ring.then(
      (r) => loaded.set(config, r),
      () => undefined,
    );
    shared.set(services.config, ring);
  }
  return ring;
}

/**
 * The heartbeat's view of the ring (§5.4): `command_keys` and `enforcing`, re-reading the file
 * first when `reload` is set. Matches the heartbeat's `CommandKeyStatusReader`. Never rejects.
 */
export async function commandKeyStatus(
  services: { readonly config: AgentConfig; readonly log: Logger },
  opts: { reload: boolean },
): Promise<{ command_keys: readonly string[]; enforcing: boolean }> {
  try {
    const ring = await keyringFor(services);
    if (opts.reload) await ring.reload();
    return { command_keys: ring.fingerprints(), enforcing: ring.enforcing() };
  } catch (err) {
    services.log.error({ err: (err as Error).message }, 'command keyring unavailable for the heartbeat');
    return { command_keys: [], enforcing: false };
  }
}
