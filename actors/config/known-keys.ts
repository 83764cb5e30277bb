/**
 * Every `agent.toml` key the agent knows, as data, and the strictness rules applied to a parsed
 * file (issue #14: `[securty] require_signed_commands = true` and `keep_day` were dropped without a
 * word). A new key is one entry in {@link KNOWN_KEYS} plus its row in docs/configuration.md.
 *
 * Rules: an unknown key in a known section is a warning with a "did you mean" suggestion, except
 * under `[security]`, where it is an error (a mistyped security setting must never run with the
 * default); an unknown section is ignored with a warning (wire contract §12 says unknown sections are
 * ignored, so `[securty]` cannot be an error: docs/contract-notes.md).
 */

/** Known sections and their keys. */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  agent: ['id', 'nats_url', 'data_dir', 'groups', 'token', 'user', 'password'],
  log: ['path', 'level', 'keep_days', 'max_size'],
  security: ['command_keys_file', 'require_signed_commands', 'require_envelope'],
  control: ['socket'],
  inventory: ['enabled', 'interval', 'jitter'],
};

/** Sections whose unknown keys are errors, not warnings. */
export const STRICT_SECTIONS: ReadonlySet<string> = new Set(['security']);

/** Sections other kanade tools read from a shared file (§12 names `[tls]`): ignored without a word. */
export const FOREIGN_SECTIONS: ReadonlySet<string> = new Set(['tls']);

/** A finding of {@link checkKnownKeys}: `key` is how the operator writes it (`[log] keep_day`). */
export interface KeyFinding {
  readonly key: string;
  readonly message: string;
}

/** Edit distance (insert, delete, substitute, swap of neighbours), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `candidates` to `word`, when close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word.toLowerCase(), name);
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && best.distance <= limit ? best.name : undefined;
}

/** Checks a parsed file's sections and keys against {@link KNOWN_KEYS}. */
export function checkKnownKeys(root: Record<string, unknown>): { errors: KeyFinding[]; warnings: KeyFinding[] } {
  const errors: KeyFinding[] = [];
  const warnings: KeyFinding[] = [];
  const sections = Object.keys(KNOWN_KEYS);
  for (const [name, value] of Object.entries(root)) {
    const keys = KNOWN_KEYS[name];
    if (keys === undefined) {
      if (FOREIGN_SECTIONS.has(name)) continue;
      const isTable = typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
      if (!isTable) {
        const section = sections.find((s) => KNOWN_KEYS[s]!.includes(name));
        const hint = section === undefined ? '' : `; did you mean to put it under [${section}]?`;
        warnings.push({ key: name, message: `${name}: unknown top-level key, ignored${hint}` });
        continue;
      }
      const guess = suggest(name, sections);
      const inner = Object.keys(value as object);
      const applied = guess === undefined ? '' : ` Its keys (${inner.join(', ') || 'none'}) are NOT applied.`;
      warnings.push({
        key: `[${name}]`,
        message: `[${name}]: unknown section, ignored (wire contract §12)${guess === undefined ? '' : `; did you mean [${guess}]?`}${applied}`,
      });
      continue;
    }
    if (typeof value !== 'object' || value === null) continue; // the reader reports "expected a table"
    for (const key of Object.keys(value as object)) {
      if (keys.includes(key)) continue;
      const guess = suggest(key, keys);
      const hint = guess === undefined ? `; known keys: ${keys.join(', ')}` : `; did you mean ${guess}?`;
      if (STRICT_SECTIONS.has(name)) {
        errors.push({
          key: `[${name}] ${key}`,
          message: `[${name}] ${key}: unknown key${hint} (unknown [${name}] keys are errors: a mistyped security setting must not silently fall back to its default)`,
        });
      } else {
        warnings.push({ key: `[${name}] ${key}`, message: `[${name}] ${key}: unknown key, ignored${hint}` });
      }
    }
  }
  return { errors, warnings };
}
