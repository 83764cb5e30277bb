/**
 * The one check every subject built from input goes through (§3): a value placed in a subject must
 * be a single NATS subject token, or a wildcard (`*`, `>`) or a dot in it would change which
 * subjects the agent subscribes to or publishes on (`exec_id: ">"` would subscribe `kill.>`).
 *
 * @example
 * subjectTokenProblem('job-42');   // undefined: a valid token
 * subjectTokenProblem('a.b');      // 'contains "."'
 * subjectToken('>', 'exec_id');    // throws SubjectTokenError
 */

/** The longest token the agent accepts, in UTF-8 bytes (our choice; subjects stay far below max_payload). */
export const MAX_SUBJECT_TOKEN_BYTES = 255;

/** stderr of the result of a command whose exec_id is not a token (§5.3, our choice). */
export const EXEC_ID_NOT_TOKEN_MESSAGE = 'refused: exec_id is not a single NATS subject token';

// Whitespace, C0/C1 controls, DEL and the Unicode line/paragraph separators: NATS splits or
// rejects subjects on them, and they make log lines lie.
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/** Why `value` is not a single subject token, or `undefined` when it is one. */
export function subjectTokenProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.includes('.')) return 'contains "."';
  if (value.includes('*')) return 'contains the wildcard "*"';
  if (value.includes('>')) return 'contains the wildcard ">"';
  if (FORBIDDEN.test(value)) return 'contains whitespace or a control character';
  if (new TextEncoder().encode(value).length > MAX_SUBJECT_TOKEN_BYTES) return `is longer than ${MAX_SUBJECT_TOKEN_BYTES} bytes`;
  return undefined;
}

/** True when `value` is one subject token. */
export function isSubjectToken(value: string): boolean {
  return subjectTokenProblem(value) === undefined;
}

/** Thrown by a subject builder given a value that is not a token; callers check first. */
export class SubjectTokenError extends Error {
  readonly what: string;
  readonly value: string;

  constructor(what: string, value: string, problem: string) {
    super(
      `${what} ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)} is not a single NATS subject token: it ${problem}`,
    );
    this.name = 'SubjectTokenError';
    this.what = what;
    this.value = value;
  }
}

/** Returns `value` when it is a single token; throws {@link SubjectTokenError} otherwise. */
export function subjectToken(value: string, what: string): string {
  const problem = subjectTokenProblem(value);
  if (problem !== undefined) throw new SubjectTokenError(what, value, problem);
  return value;
}

/**
 * The pc_id in a subject (§1: verbatim, so a dotted hostname stays as it is): one or more
 * dot-separated tokens, none empty and none a wildcard. It comes from the local agent.toml or the
 * hostname, not from the wire, but is checked the same way so no subject is ever built unchecked.
 */
export function pcIdProblem(pcId: string): string | undefined {
  if (pcId.length === 0) return 'is empty';
  for (const part of pcId.split('.')) {
    const problem = subjectTokenProblem(part);
    if (problem !== undefined) return part.length === 0 ? 'has an empty dot-separated part' : problem;
  }
  return undefined;
}

/** Returns `pcId` when it can stand in a subject; throws {@link SubjectTokenError} otherwise. */
export function subjectPcId(pcId: string): string {
  const problem = pcIdProblem(pcId);
  if (problem !== undefined) throw new SubjectTokenError('pc_id', pcId, problem);
  return pcId;
}

/**
 * A single token close to `value`, for the fix in an error message (`[agent] id`): its first
 * dot-separated label (`mac.local` → `mac`) when that is a token, else `value` with every character
 * a token may not hold replaced by `-`.
 */
export function suggestSubjectToken(value: string): string {
  const label = value.split('.')[0] ?? '';
  if (isSubjectToken(label)) return label;
  // Control characters are replaced on purpose: a pc_id with one is never a subject token.
  // eslint-disable-next-line no-control-regex
  const replaced = value.trim().replace(/[.*>\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '-');
  return isSubjectToken(replaced) ? replaced : 'pc-1';
}
