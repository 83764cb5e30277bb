/** Names of the JetStream resources the kanade backend owns (§4) and the subjects of §3. */
import { subjectPcId as pc, subjectToken as token } from './subject-token.js';

export const STREAM_RESULTS = 'RESULTS';
export const STREAM_EXEC = 'EXEC';
export const STREAM_EVENTS = 'EVENTS';
export const STREAM_INVENTORY = 'INVENTORY';
export const STREAM_OBS_EVENTS = 'OBS_EVENTS';

export const KV_AGENT_CONFIG = 'agent_config';
export const KV_AGENT_GROUPS = 'agent_groups';
export const KV_AGENT_GROUPS_DERIVED = 'agent_groups_derived';
export const KV_SCRIPT_CURRENT = 'script_current';
export const KV_SCRIPT_STATUS = 'script_status';

export const OBJ_RESULT_OUTPUT = 'result_output';
export const OBJ_AGENT_RELEASES = 'agent_releases';
export const OBJ_SCRIPTS = 'scripts';

/**
 * Core subjects and subject builders (§3). Subjects are case-sensitive; ids go in verbatim, but
 * only after the one check of subject-token.ts: a builder given a wildcard, a dot or whitespace
 * throws `SubjectTokenError` instead of widening a subscription.
 */
export const subjects = {
  commandsAll: 'commands.all',
  commandsWildcard: 'commands.>',
  commandsPc: (pcId: string) => `commands.pc.${pc(pcId)}`,
  commandsGroup: (group: string) => `commands.group.${token(group, 'group')}`,
  kill: (execId: string) => `kill.${token(execId, 'exec_id')}`,
  ping: (pcId: string) => `agents.${pc(pcId)}.ping`,
  heartbeat: (pcId: string) => `heartbeat.${pc(pcId)}`,
  results: (requestId: string) => `results.${token(requestId, 'request_id')}`,
  eventsStarted: (execId: string, pcId: string) => `events.started.${token(execId, 'exec_id')}.${pc(pcId)}`,
  obs: (pcId: string) => `obs.${pc(pcId)}`,
  inventoryHw: (pcId: string) => `inventory.${pc(pcId)}.hw`,
} as const;

/** The prefix of group layers in `agent_config` (§5.6). */
export const CONFIG_GROUP_PREFIX = 'groups.';

/** Key of a PC's layer in `agent_config` and of a group's layer (§5.6); KV keys are subjects too. */
export const configKeys = {
  global: 'global',
  group: (group: string) => `${CONFIG_GROUP_PREFIX}${token(group, 'group')}`,
  pc: (pcId: string) => `pcs.${pc(pcId)}`,
} as const;

/** Object keys in `result_output` (§8.5): `<request_id>/<pc_id>/stdout`, then `.r1`, `.r2` … */
export function resultOutputKey(requestId: string, pcId: string, stream: 'stdout' | 'stderr', revision = 0): string {
  const base = `${requestId}/${pcId}/${stream}`;
  return revision === 0 ? base : `${base}.r${revision}`;
}

/** The replay consumer's durable name (§7): `agent_replay_<pc_id>`, chars outside `[A-Za-z0-9_-]` → `_`. */
export function replayDurableName(pcId: string): string {
  return `agent_replay_${pcId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** Where a `commands.*` subject is addressed, for the replay consumer's addressing check (§7). */
export type CommandAddress =
  | { readonly kind: 'all' }
  | { readonly kind: 'pc'; readonly pcId: string }
  | { readonly kind: 'group'; readonly group: string }
  | { readonly kind: 'other' };

/** Classifies a `commands.…` subject. */
export function parseCommandSubject(subject: string): CommandAddress {
  if (subject === subjects.commandsAll) return { kind: 'all' };
  if (subject.startsWith('commands.pc.')) return { kind: 'pc', pcId: subject.slice('commands.pc.'.length) };
  if (subject.startsWith('commands.group.')) return { kind: 'group', group: subject.slice('commands.group.'.length) };
  return { kind: 'other' };
}

/** True when a command on `subject` is for this PC given its current groups (§7). */
export function isAddressedTo(subject: string, pcId: string, groups: ReadonlySet<string>): boolean {
  const address = parseCommandSubject(subject);
  switch (address.kind) {
    case 'all':
      return true;
    case 'pc':
      return address.pcId === pcId;
    case 'group':
      return groups.has(address.group);
    default:
      return false;
  }
}
