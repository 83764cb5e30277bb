/**
 * The command keyring (§6.2): keys from `[security] command_keys_file`, reloaded each heartbeat and
 * on an unknown kid (rate-limited), and the enforcement flag. One instance per agent process, shared
 * by the executor (verification) and the heartbeat (`command_keys`, `enforcing`): get it with
 * {@link keyringFor}.
 *
 * @example
 * const ring = keyringFor(services);
 * await ring.reload();
 * heartbeat.command_keys = ring.fingerprints(); heartbeat.enforcing = ring.enforcing();
 */
import { createHash, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { decodeCommandKeys, describeDecodeError, type CommandKey } from '../../contract/index.js';
import type { AgentConfig } from '../config/load-config.js';
import { publicKeyFromRaw } from '../ed25519.js';
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
  /** Enforcement requested and a ring present, or a bad file at start with enforcement requested (§6.2). */
  enforcing(): boolean;
  /** True when enforcement was requested but the file at start was bad: every command is refused. */
  refusingAll(): boolean;
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
  let keys: RingKey[] = [];
  let refuseAll = false;
  let lastUnknownKidReload = Number.NEGATIVE_INFINITY;

  const read = async (): Promise<{ ok: true; keys: RingKey[] } | { ok: false; reason: string }> => {
    let bytes: Buffer | string;
    try {
      bytes = await readFile(opts.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: false, reason: (err as Error).message };
      // No file: on Windows the installer may have written the same JSON to the registry (§6.2).
      const fromRegistry = (opts.platform ?? process.platform) === 'win32' ? await (opts.readRegistry ?? queryRegistryKeyring)() : undefined;
      if (fromRegistry === undefined) return { ok: true, keys: [] };
      bytes = fromRegistry;
    }
    const decoded = decodeCommandKeys(bytes);
    if (!decoded.ok) return { ok: false, reason: describeDecodeError(decoded.error) };
    return { ok: true, keys: decoded.value.map(toRingKey) };
  };

  const first = await read();
  if (first.ok) {
    keys = first.keys;
  } else if (opts.requireSigned) {
    refuseAll = true;
    opts.log.error({ file: opts.file, reason: first.reason }, 'command keyring unreadable at start and signed commands are required: refusing every command');
  } else {
    opts.log.error({ file: opts.file, reason: first.reason }, 'command keyring unreadable at start; continuing with an empty ring');
  }

  const ring: Keyring = {
    async reload() {
      const next = await read();
      if (!next.ok) {
        opts.log.warn({ file: opts.file, reason: next.reason }, 'command keyring unreadable on reload; keeping the previous ring');
        return;
      }
      const before = ring.fingerprints().join(',');
      keys = next.keys;
      refuseAll = false;
      if (ring.fingerprints().join(',') !== before) opts.log.info({ keys: ring.fingerprints() }, 'command keyring changed');
    },
    fingerprints: () => keys.map((k) => `${k.kid}:${k.fingerprint}`),
    enforcing: () => opts.requireSigned && (keys.length > 0 || refuseAll),
    refusingAll: () => refuseAll,
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

/** The process-wide keyring for this agent config (created on first use, then shared). */
export function keyringFor(services: { readonly config: AgentConfig; readonly log: Logger }): Promise<Keyring> {
  let ring = shared.get(services.config);
  if (ring === undefined) {
    ring = createKeyring({
      file: services.config.security.commandKeysFile,
      requireSigned: services.config.security.requireSignedCommands,
      log: services.log,
    });
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
