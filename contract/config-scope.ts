/**
 * `ConfigScope` layers from KV `agent_config` and the `EffectiveConfig` they resolve to (§5.6).
 * A bad value is dropped with a warning and the default applies; it never fails the whole layer.
 */
import { decodeJson, type Decoded } from './decode.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_TARGET_VERSION_JITTER_MS } from './constants.js';
import { parseDurationMs } from './humantime.js';

/** One layer as read from KV; only the fields this agent uses. */
export interface ConfigScope {
  readonly max_local_concurrent?: number;
  readonly heartbeat_interval_ms?: number;
  readonly target_version?: string;
  readonly target_version_jitter_ms?: number;
  /** Our agent.toml `[inventory]` keys, overridable from KV (issue: "KV fields of the same names"). */
  readonly inventory_enabled?: boolean;
  readonly inventory_interval_ms?: number;
  readonly inventory_jitter_ms?: number;
  /**
   * Fields that were present but invalid: they resolve to the contract default ("invalid ⇒ 30 s"),
   * overriding lower layers, because the layer did say something (§5.6 "later non-null wins").
   */
  readonly invalid?: readonly ConfigField[];
}

/** The value fields of a ConfigScope. */
export type ConfigField = Exclude<keyof ConfigScope, 'invalid'>;

export interface DecodedScope {
  readonly scope: ConfigScope;
  /** One line per field that was present but invalid (its default applies). */
  readonly warnings: readonly string[];
}

/** Decodes a ConfigScope JSON value leniently: invalid fields become warnings; only non-object JSON fails. */
export function decodeConfigScope(bytes: Uint8Array | string): Decoded<DecodedScope> {
  const parsed = decodeJson((value) => value, bytes);
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, error: { path: '', reason: 'expected a JSON object' } };
  }
  const obj = raw as Record<string, unknown>;
  const warnings: string[] = [];
  const scope: Record<string, unknown> = {};
  const invalid: ConfigField[] = [];
  const take = <T>(key: string, target: string, read: (v: unknown) => T | undefined, expected: string): void => {
    const value = obj[key];
    if (value === undefined || value === null) return;
    const decoded = read(value);
    if (decoded === undefined) {
      warnings.push(`${key}: expected ${expected}, got ${JSON.stringify(value)}; using the default`);
      invalid.push(target as ConfigField);
    } else scope[target] = decoded;
  };
  const duration = (v: unknown) => (typeof v === 'string' ? parseDurationMs(v) : undefined);
  take(
    'max_local_concurrent',
    'max_local_concurrent',
    (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffff_ffff ? v : undefined),
    'an integer ≥ 1',
  );
  take(
    'heartbeat_interval',
    'heartbeat_interval_ms',
    (v) => {
      const ms = duration(v);
      return ms !== undefined && ms > 0 ? ms : undefined;
    },
    'a humantime duration like "30s"',
  );
  take('target_version', 'target_version', (v) => (typeof v === 'string' && v.length > 0 ? v : undefined), 'a version string');
  take('target_version_jitter', 'target_version_jitter_ms', duration, 'a humantime duration like "10m"');
  take('inventory_enabled', 'inventory_enabled', (v) => (typeof v === 'boolean' ? v : undefined), 'true or false');
  take(
    'inventory_interval',
    'inventory_interval_ms',
    (v) => {
      const ms = duration(v);
      return ms !== undefined && ms > 0 ? ms : undefined;
    },
    'a humantime duration like "24h"',
  );
  take('inventory_jitter', 'inventory_jitter_ms', duration, 'a humantime duration like "10m"');
  if (invalid.length > 0) scope['invalid'] = invalid;
  return { ok: true, value: { scope: scope as ConfigScope, warnings } };
}

/** What the agent runs with after layering. */
export interface EffectiveConfig {
  readonly max_local_concurrent: number;
  readonly heartbeat_interval_ms: number;
  readonly target_version: string | null;
  readonly target_version_jitter_ms: number;
  readonly inventory_enabled?: boolean;
  readonly inventory_interval_ms?: number;
  readonly inventory_jitter_ms?: number;
}

/** The layers of one PC: `global`, its groups' layers by group name, its `pcs.<pc_id>` layer. */
export interface ConfigLayers {
  readonly global?: ConfigScope;
  readonly groups: ReadonlyMap<string, ConfigScope>;
  readonly pc?: ConfigScope;
}

/**
 * Resolves defaults → global → groups alphabetically → pc; a later non-null value wins. Two groups
 * giving different values for one field is reported as a conflict warning (the later group wins).
 */
export function resolveEffectiveConfig(layers: ConfigLayers, cpuCount: number): { config: EffectiveConfig; warnings: string[] } {
  const defaults: Record<string, unknown> = {
    max_local_concurrent: Math.max(1, Math.floor(cpuCount) || 1),
    heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
    target_version: null,
    target_version_jitter_ms: DEFAULT_TARGET_VERSION_JITTER_MS,
  };
  const config: Record<string, unknown> = { ...defaults };
  const warnings: string[] = [];
  /** A layer's say on each field: its value, or the default where its value was invalid. */
  const said = (scope: ConfigScope): Array<[string, unknown]> => [
    ...Object.entries(scope).filter(([key, value]) => key !== 'invalid' && value !== undefined),
    ...(scope.invalid ?? []).map((key): [string, unknown] => [key, defaults[key]]),
  ];
  const apply = (scope: ConfigScope | undefined): void => {
    if (!scope) return;
    for (const [key, value] of said(scope)) {
      if (value === undefined) delete config[key];
      else config[key] = value;
    }
  };
  apply(layers.global);
  const fromGroup = new Map<string, { group: string; value: unknown }>();
  for (const group of [...layers.groups.keys()].sort()) {
    const scope = layers.groups.get(group) as ConfigScope;
    for (const [key, value] of said(scope)) {
      const earlier = fromGroup.get(key);
      if (earlier && earlier.value !== value) {
        warnings.push(
          `config conflict on ${key}: group ${earlier.group} says ${JSON.stringify(earlier.value)}, group ${group} says ${JSON.stringify(value)}; ${group} wins (alphabetical order)`,
        );
      }
      fromGroup.set(key, { group, value });
    }
    apply(scope);
  }
  apply(layers.pc);
  return { config: config as unknown as EffectiveConfig, warnings };
}
