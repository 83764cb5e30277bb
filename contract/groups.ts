/** Group membership values in KV `agent_groups` / `agent_groups_derived` (§4): `{"groups":["a","b"]}`. */
import { arrayOf, decodeJson, field, record, string, type Decoded, type Decoder } from './decode.js';
import { isSubjectToken } from './subject-token.js';

export interface GroupsValue {
  readonly groups: readonly string[];
}

export const groupsValue: Decoder<GroupsValue> = (value, path) => ({
  groups: field(record(value, path), 'groups', arrayOf(string), path),
});

export function decodeGroupsValue(bytes: Uint8Array | string): Decoded<GroupsValue> {
  return decodeJson(groupsValue, bytes);
}

/**
 * Membership is the union of both buckets, deduplicated and sorted. A name that is not a single
 * subject token (`"a b"`, `"x.>"`) can be neither subscribed nor looked up, so it is left out;
 * callers log it with {@link invalidGroupNames}.
 */
export function unionGroups(...values: ReadonlyArray<GroupsValue | undefined>): string[] {
  const all = new Set<string>();
  for (const value of values) for (const group of value?.groups ?? []) if (isSubjectToken(group)) all.add(group);
  return [...all].sort();
}

/** The non-empty names in a value that {@link unionGroups} leaves out, for a warning. */
export function invalidGroupNames(value: GroupsValue | undefined): string[] {
  return (value?.groups ?? []).filter((group) => group.length > 0 && !isSubjectToken(group));
}
