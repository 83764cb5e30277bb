/**
 * Bounded screening of a command body before anything recursive touches it (issue #17 item 5,
 * #13 item 6): `JSON.parse` copes with deep nesting, but `String()`, `JSON.stringify`, the decoders
 * and pino's serializers recurse and overflow the stack on a body like `{"request_id":[[[[…]]]]}`.
 * One linear, iterative pass over the bytes decides first.
 *
 * @example
 * jsonNestingDepth(new TextEncoder().encode('{"a":[1,{"b":2}]}'), 64); // → 3
 */

/** Bodies larger than this are refused unread (NATS' default max_payload; our choice). */
export const MAX_COMMAND_BODY_BYTES = 1024 * 1024;

/**
 * Deepest object/array nesting a command body may have (our choice). A real Command or v2
 * envelope nests 4 levels (`envelope.command.retry.max`); 32 leaves room and bounds every walk.
 */
export const MAX_COMMAND_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;

/**
 * The deepest `{`/`[` nesting of JSON text `bytes` (brackets inside strings do not count), or
 * `limit + 1` as soon as it passes `limit` (the scan stops there). Invalid JSON is not detected
 * here; `JSON.parse` does that afterwards on a body known to be shallow.
 */
export function jsonNestingDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i += 1) {
    const b = bytes[i] as number;
    if (inString) {
      if (b === BACKSLASH) i += 1;
      else if (b === QUOTE) inString = false;
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return limit + 1;
      }
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) depth -= 1;
  }
  return deepest;
}

/** A `request_id` for log lines and obs payloads: only a string is used, cut to 128 chars. */
export function requestIdHint(parsed: unknown): string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return '';
  const top = (parsed as Record<string, unknown>)['request_id'];
  if (typeof top === 'string') return top.slice(0, 128);
  const inner = (parsed as Record<string, unknown>)['command'];
  if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) {
    const nested = (inner as Record<string, unknown>)['request_id'];
    if (typeof nested === 'string') return nested.slice(0, 128);
  }
  return '';
}
