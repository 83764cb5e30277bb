/**
 * The policy gates of §8.1, in the contract's order: staleness (127), version pin (124), revoke
 * (126), deadline (125). KV values are read live while connected and fall back to the last value
 * seen (kept in memory) while disconnected.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  deadlineSkipMessage,
  EXIT_SKIP_DEADLINE,
  EXIT_SKIP_REVOKED,
  EXIT_SKIP_STALENESS,
  EXIT_SKIP_VERSION_PIN,
  KV_SCRIPT_CURRENT,
  KV_SCRIPT_STATUS,
  parseRfc3339,
  revokedSkipMessage,
  stalenessSkipMessage,
  versionPinSkipMessage,
  type Command,
} from '../../contract/index.js';
import type { BrokerPort, BrokerState } from '../ports.js';

/** A live KV read gives up after this and counts as failed. */
export const KV_GET_TIMEOUT_MS = 5_000;

/** A policy skip: the exit code and exact stderr of §8.1. */
export interface GateSkip {
  readonly exitCode: number;
  readonly stderr: string;
}

/** Reads `script_current` / `script_status` values; `undefined` = key absent. */
export interface ScriptPolicyReader {
  /**
   * Throws when a live read was attempted and failed and there is no last value to fall back to
   * (or `strict` forbids falling back).
   */
  read(bucket: typeof KV_SCRIPT_CURRENT | typeof KV_SCRIPT_STATUS, key: string, opts?: { strict?: boolean }): Promise<string | undefined>;
}

/** How long the agent has been disconnected (§8.1): 0 while connected, ∞ if it never connected. */
export function stalenessMs(state: BrokerState, nowMs: number): number {
  if (state.connected) return 0;
  return state.everConnected ? Math.max(0, nowMs - state.since) : Number.POSITIVE_INFINITY;
}

/** The deadline gate alone (also used while waiting for a slot); `undefined` = still in time (equal runs). */
export function deadlineSkip(command: Command, receivedAt: string, nowMs: number): GateSkip | undefined {
  if (command.deadline_at === undefined) return undefined;
  const deadline = parseRfc3339(command.deadline_at);
  if (deadline === undefined || nowMs <= deadline) return undefined;
  return { exitCode: EXIT_SKIP_DEADLINE, stderr: deadlineSkipMessage(nowMs - deadline, command.deadline_at, receivedAt) };
}

/** Runs the gates in order; the first that fires wins. */
export async function checkGates(
  command: Command,
  receivedAt: string,
  broker: BrokerPort,
  reader: ScriptPolicyReader,
  nowMs: number = Date.now(),
): Promise<GateSkip | undefined> {
  const policy = command.staleness;
  const state = broker.state();
  const stale = stalenessMs(state, nowMs);
  if (policy.mode === 'strict' && stale > policy.max_cache_age_ms) {
    return { exitCode: EXIT_SKIP_STALENESS, stderr: stalenessSkipMessage(stale, policy.max_cache_age_ms) };
  }
  if (policy.mode !== 'unchecked') {
    // Both reads at once: each is a broker round trip on the launch path. Settled separately, so a
    // failed read never hides the other's REVOKED or pin value.
    const strict = { strict: policy.mode === 'strict' };
    const [pin, revoke] = await Promise.allSettled([
      reader.read(KV_SCRIPT_CURRENT, command.id, strict),
      reader.read(KV_SCRIPT_STATUS, command.id, strict),
    ]);
    // Strict mode needs fresh policy: a failed live read counts as exceeding the bound (§8.1).
    // Cached mode with nothing seen yet proceeds: a missing key also proceeds (§8.1).
    if (policy.mode === 'strict' && (pin.status === 'rejected' || revoke.status === 'rejected')) {
      return { exitCode: EXIT_SKIP_STALENESS, stderr: stalenessSkipMessage(stale, policy.max_cache_age_ms) };
    }
    const current = pin.status === 'fulfilled' ? pin.value : undefined;
    const status = revoke.status === 'fulfilled' ? revoke.value : undefined;
    if (current !== undefined && current !== command.version) {
      return { exitCode: EXIT_SKIP_VERSION_PIN, stderr: versionPinSkipMessage(command.id, current, command.version) };
    }
    if (status !== undefined && status.trim().toUpperCase() === 'REVOKED') {
      return { exitCode: EXIT_SKIP_REVOKED, stderr: revokedSkipMessage(command.id) };
    }
  }
  return deadlineSkip(command, receivedAt, nowMs);
}

/**
 * The default reader: a live KV get while connected, else the last value seen for that key. In
 * `cached` mode a failed live get also falls back to the last value (the caller sees no throw).
 */
export function createScriptPolicyReader(
  broker: BrokerPort,
): ScriptPolicyReader & { readCached(bucket: string, key: string): string | undefined } {
  const lastSeen = new Map<string, string | undefined>();
  const opened = new WeakMap<NatsConnection, Map<string, Promise<KV>>>();
  const bucketOf = (nc: NatsConnection, bucket: string): Promise<KV> => {
    let perNc = opened.get(nc);
    if (perNc === undefined) {
      perNc = new Map();
      opened.set(nc, perNc);
    }
    let kv = perNc.get(bucket);
    if (kv === undefined) {
      kv = new Kvm(nc).open(bucket, { bindOnly: true });
      perNc.set(bucket, kv);
      kv.catch(() => perNc?.delete(bucket));
    }
    return kv;
  };
  return {
    async read(bucket, key, opts = {}) {
      const cacheKey = `${bucket}\u0000${key}`;
      const state = broker.state();
      if (!state.connected) return lastSeen.get(cacheKey);
      const live = (async () => {
        const kv = await bucketOf(state.nc, bucket);
        const entry = await kv.get(key);
        return entry === null || entry.operation !== 'PUT' ? undefined : entry.string();
      })();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`KV get ${bucket}/${key} timed out`)), KV_GET_TIMEOUT_MS);
      });
      try {
        const value = await Promise.race([live, timeout]);
        lastSeen.set(cacheKey, value);
        return value;
      } catch (err) {
        // `cached` falls back to the last value seen; `strict` treats a failed live read as stale (§8.1).
        if (!opts.strict && lastSeen.has(cacheKey)) return lastSeen.get(cacheKey);
        throw err;
      } finally {
        clearTimeout(timer);
      }
    },
    readCached: (bucket, key) => lastSeen.get(`${bucket}\u0000${key}`),
  };
}
