/**
 * The one JSON style of `kanade-agent status --json` (docs/status.md, schema 1): snake_case keys and
 * integer milliseconds. Children describe themselves in `context.status` with whatever names their
 * machines use (the inspector shows those unchanged); the status report passes each through
 * {@link toStatusShape} so the operator always sees one style, whoever added the field.
 *
 * @example
 * toStatusShape({ lastBeatAt: null, slots: { inUse: 1 }, oldest_age_ms: 19358.04 });
 * // → { last_beat_at: null, slots: { in_use: 1 }, oldest_age_ms: 19358 }
 */

/** `lastBeatAt` → `last_beat_at`; `intervalMs` → `interval_ms`; snake_case stays as it is. */
export function snakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** A duration or age field: its value is an integer number of milliseconds. */
function isMillisKey(key: string): boolean {
  return key.endsWith('_ms');
}

/**
 * A plain-JSON copy of `value` with every object key in snake_case and every number under a `*_ms`
 * key rounded to an integer. Arrays and nested objects are walked; other values are kept.
 */
export function toStatusShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toStatusShape);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const name = snakeCase(key);
    out[name] = isMillisKey(name) && typeof inner === 'number' && Number.isFinite(inner) ? Math.round(inner) : toStatusShape(inner);
  }
  return out;
}
