/** Group membership values in KV `agent_groups` / `agent_groups_derived` (§4): `{"groups":["a","b"]}`. */
import { arrayOf, decodeJson, field, record, string, type Decoded, type Decoder } from './decode.js';

export interface GroupsValue {
  readonly groups: readonly string[];
}

export const groupsValue: Decoder<GroupsValue> = (value, path) => ({
  groups: field(record(value, path), 'groups', arrayOf(string), path),
});

export function decodeGroupsValue(bytes: Uint8Array | string): Decoded<GroupsValue> {
  return decodeJson(groupsValue, bytes);
}

/** Membership is the union of both buckets, deduplicated and sorted. */
export function unionGroups(...values: ReadonlyArray<GroupsValue | undefined>): string[] {
  const all = new Set<string>();
  for (const value of values) for (const group of value?.groups ?? []) if (group.length > 0) all.add(group);
  return [...all].sort();
}
