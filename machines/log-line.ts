/**
 * A log line as data. Machines never log inside `assign`: a transition enqueues the effect
 * `logEffect(log, line)` (in `enqueueActions`), which the interpreter runs after computing the
 * transition, through the logger the machine was given as input.
 *
 * @example
 * enqueue(logEffect(context.services.log, { level: 'warn', msg: 'publish failed; retrying', fields: { attempt } }));
 */
import type { Logger } from 'pino';

/** One line: pino level, message and structured fields. */
export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** The action that writes `line` to `log` when the interpreter runs it. */
export function logEffect(log: Pick<Logger, LogLine['level']>, line: LogLine): () => void {
  return () => log[line.level]({ ...line.fields }, line.msg);
}
