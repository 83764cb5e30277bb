/**
 * The `config` child's view of KV as plain data (contract §5.6): every relevant entry with its
 * revision, folded one KV entry at a time. Pure, so the machine can keep it in its context and the
 * tests can drive it without a broker.
 *
 * @example
 * let state = emptyLayerState();
 * const applied = applyKvEntry(state, { bucket: 'config', key: 'global', revision: 3, operation: 'PUT', value: '{"heartbeat_interval":"1s"}' }, 'PC001');
 * state = applied.state; // applied.warnings: one line per bad field
 * resolveLayers(state, 'PC001', 2).config.heartbeat_interval_ms; // 1000
 */
import {
  CONFIG_GROUP_PREFIX,
  configKeys,
  decodeConfigScope,
  decodeGroupsValue,
  describeDecodeError,
  invalidGroupNames,
  resolveEffectiveConfig,
  unionGroups,
  type ConfigScope,
  type EffectiveConfig,
  type GroupsValue,
} from '../contract/index.js';

/** Which bucket an entry came from: `agent_config`, `agent_groups` or `agent_groups_derived`. */
export type LayerBucket = 'config' | 'groups' | 'groups_derived';

/** One KV entry as delivered by a get or a watch. */
export interface KvEntryEvent {
  readonly bucket: LayerBucket;
  readonly key: string;
  readonly revision: number;
  readonly operation: 'PUT' | 'DEL' | 'PURGE';
  /** UTF-8 text of the value (empty for deletes). */
  readonly value: string;
}

/** Everything the `config` child knows from KV; plain JSON so it can live in machine context. */
export interface LayerState {
  /** High-water mark per `<bucket>/<key>`: entries at or below it are replays and are skipped. */
  readonly revisions: Readonly<Record<string, number>>;
  /** `agent_config` layers by key (`global`, `groups.<g>`, `pcs.<pc_id>`). */
  readonly scopes: Readonly<Record<string, ConfigScope>>;
  /** This PC's value in each group bucket. */
  readonly membership: Readonly<Partial<Record<'groups' | 'groups_derived', GroupsValue>>>;
}

/** Result of folding one entry: the next state, whether anything changed, and lines to log. */
export interface AppliedEntry {
  readonly state: LayerState;
  readonly changed: boolean;
  readonly warnings: readonly string[];
}

const GROUP_PREFIX = CONFIG_GROUP_PREFIX;

/** A state with no layers (defaults only). */
export function emptyLayerState(): LayerState {
  return { revisions: {}, scopes: {}, membership: {} };
}

/** True when an `agent_config` key can ever matter to `pcId`: `global`, any group, its own `pcs.` key. */
export function isRelevantConfigKey(key: string, pcId: string): boolean {
  return key === configKeys.global || key === configKeys.pc(pcId) || (key.startsWith(GROUP_PREFIX) && key.length > GROUP_PREFIX.length);
}

/**
 * Folds one entry into the state: a replay (revision ≤ the key's high-water mark) is skipped, a
 * delete drops the layer, an unparseable value is skipped with a warning (the layer keeps what it
 * had), a bad field becomes a warning and its default applies.
 */
export function applyKvEntry(state: LayerState, entry: KvEntryEvent, pcId: string): AppliedEntry {
  if (entry.bucket === 'config' ? !isRelevantConfigKey(entry.key, pcId) : entry.key !== pcId) {
    return { state, changed: false, warnings: [] };
  }
  const mark = `${entry.bucket}/${entry.key}`;
  if (entry.revision <= (state.revisions[mark] ?? 0)) return { state, changed: false, warnings: [] };
  const revisions = { ...state.revisions, [mark]: entry.revision };
  const where = `${entry.bucket === 'config' ? 'agent_config' : entry.bucket === 'groups' ? 'agent_groups' : 'agent_groups_derived'}/${entry.key} (revision ${entry.revision})`;
  const deleted = entry.operation !== 'PUT';

  if (entry.bucket === 'config') {
    if (deleted) {
      const { [entry.key]: dropped, ...scopes } = state.scopes;
      return { state: { ...state, revisions, scopes }, changed: dropped !== undefined, warnings: [] };
    }
    const decoded = decodeConfigScope(entry.value);
    if (!decoded.ok) {
      return {
        state: { ...state, revisions },
        changed: false,
        warnings: [`${where}: unparseable ConfigScope skipped: ${describeDecodeError(decoded.error)}`],
      };
    }
    return {
      state: { ...state, revisions, scopes: { ...state.scopes, [entry.key]: decoded.value.scope } },
      changed: true,
      warnings: decoded.value.warnings.map((w) => `${where}: ${w}`),
    };
  }

  const bucket = entry.bucket;
  if (deleted) {
    const { [bucket]: dropped, ...membership } = state.membership;
    return { state: { ...state, revisions, membership }, changed: dropped !== undefined, warnings: [] };
  }
  const decoded = decodeGroupsValue(entry.value);
  if (!decoded.ok) {
    return {
      state: { ...state, revisions },
      changed: false,
      warnings: [`${where}: unparseable group membership skipped: ${describeDecodeError(decoded.error)}`],
    };
  }
  // Kept in the state as read; unionGroups leaves the bad names out of every subject and key.
  const skipped = invalidGroupNames(decoded.value).map(
    (g) => `${where}: group ${JSON.stringify(g)} is not a single NATS subject token; skipped`,
  );
  return { state: { ...state, revisions, membership: { ...state.membership, [bucket]: decoded.value } }, changed: true, warnings: skipped };
}

/** What the layers resolve to for `pcId`: the effective config, the sorted groups, conflict warnings. */
export function resolveLayers(
  state: LayerState,
  pcId: string,
  cpuCount: number,
): {
  config: EffectiveConfig;
  groups: string[];
  warnings: string[];
} {
  const groups = unionGroups(state.membership.groups, state.membership.groups_derived);
  const groupScopes = new Map<string, ConfigScope>();
  for (const group of groups) {
    const scope = state.scopes[configKeys.group(group)];
    if (scope) groupScopes.set(group, scope);
  }
  const global = state.scopes[configKeys.global];
  const pc = state.scopes[configKeys.pc(pcId)];
  const { config, warnings } = resolveEffectiveConfig({ ...(global && { global }), groups: groupScopes, ...(pc && { pc }) }, cpuCount);
  return { config, groups, warnings };
}
