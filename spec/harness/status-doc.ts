/**
 * docs/status.md's field table as data, and a checker that compares a `status --json` report with
 * it in both directions (issue #14: "the status JSON is checked against docs/status.md's field list").
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * One documented field: its path (`children[heartbeat].status.beats`), type (`ms or null`), and
 * whether it appears only in some variants (its meaning starts with `(… only)`).
 */
export interface DocField {
  readonly path: string;
  readonly type: string;
  readonly conditional: boolean;
}

const STATUS_DOC = fileURLToPath(new URL('../../docs/status.md', import.meta.url));
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SNAKE_KEY = /^[a-z][a-z0-9_]*$/;

/** The rows of the `| field | type | meaning |` table in docs/status.md. */
export function readStatusDocFields(markdown = readFileSync(STATUS_DOC, 'utf8')): DocField[] {
  const rows: DocField[] = [];
  for (const line of markdown.split('\n')) {
    const m = /^\| `([^`]+)` \| ([^|]+?) \| (.*)\|$/.exec(line);
    if (m) rows.push({ path: m[1]!, type: m[2]!.trim(), conditional: /^\([^)]* only\)/.test(m[3]!.trim()) });
  }
  return rows;
}

/** Whether `value` is of the documented `type` (`integer`, `time or null`, …). */
function hasType(value: unknown, type: string): boolean {
  const [base, nullable] = type.endsWith(' or null') ? [type.slice(0, -' or null'.length), true] : [type, false];
  if (value === null) return nullable;
  switch (base) {
    case 'integer':
    case 'ms':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'time':
      return typeof value === 'string' && RFC3339_UTC.test(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
    case 'map':
      return typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'any':
      return true;
    default:
      throw new Error(`docs/status.md: unknown type '${type}'`);
  }
}

/**
 * Every problem found comparing `report` with `fields`: a printed field without a row, a value of
 * another type, a key that is not snake_case, a documented field missing from a printed object.
 */
export function checkAgainstDoc(report: unknown, fields: readonly DocField[]): string[] {
  const byPath = new Map(fields.map((f) => [f.path, f]));
  const problems: string[] = [];

  /** The documented path of a field of an element of array `arrayPath` with this `id`. */
  const elementPaths = (arrayPath: string, id: unknown): string[] => {
    const paths: string[] = [];
    if (typeof id === 'string') {
      paths.push(`${arrayPath}[${id}]`);
      for (const f of fields) {
        const m = f.path.startsWith(`${arrayPath}[`) ? /^\[([^\]]*)\*\]/.exec(f.path.slice(arrayPath.length)) : null;
        if (m && id.startsWith(m[1]!)) paths.push(`${arrayPath}[${m[1]}*]`);
      }
    }
    paths.push(`${arrayPath}[]`);
    return [...new Set(paths)];
  };

  const walk = (value: unknown, candidates: readonly string[], printed: string): void => {
    const doc = candidates[0] === ROOT ? ROOT_FIELD : candidates.map((p) => byPath.get(p)).find((f) => f !== undefined);
    if (doc === undefined) {
      problems.push(`${printed}: printed but not documented (no row for ${candidates.join(' / ')})`);
      return;
    }
    if (!hasType(value, doc.type)) {
      problems.push(`${printed}: ${JSON.stringify(value)} is not '${doc.type}' (row ${doc.path})`);
      return;
    }
    if (value === null || doc.type.startsWith('any')) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        const id = item !== null && typeof item === 'object' ? (item as { id?: unknown }).id : undefined;
        walk(item, elementPaths(doc.path, id), `${printed}[${i}]`);
      });
      return;
    }
    if (typeof value !== 'object') return;
    const entries = Object.entries(value as Record<string, unknown>);
    if (doc.type.startsWith('map')) {
      for (const [key, inner] of entries) walk(inner, [join(doc.path, '*')], `${printed}.${key}`);
      return;
    }
    // An object's fields may be documented under any of the candidate paths (an element's generic
    // `children[]` rows and its `children[heartbeat]` rows).
    for (const [key, inner] of entries) {
      if (!SNAKE_KEY.test(key)) problems.push(`${printed}.${key}: key is not snake_case`);
      walk(
        inner,
        candidates.map((p) => join(p, key)),
        `${printed}.${key}`,
      );
    }
    for (const f of fields) {
      for (const p of candidates) {
        const rest = p === ROOT ? f.path : f.path.startsWith(`${p}.`) ? f.path.slice(p.length + 1) : null;
        if (rest === null || /[.[]/.test(rest)) continue;
        if (!(rest in (value as object)) && !f.conditional) problems.push(`${printed}.${rest}: documented (row ${f.path}) but not printed`);
      }
    }
  };
  walk(report, [ROOT], '$');
  return problems;
}

/** The report itself: an object whose rows have no prefix. */
const ROOT = '';
const ROOT_FIELD: DocField = { path: ROOT, type: 'object', conditional: false };

function join(parent: string, key: string): string {
  return parent === ROOT ? key : `${parent}.${key}`;
}
