/**
 * How the agent starts another copy of itself (dev's agent, an updater's probe): the same binary
 * with new arguments. A single executable (Node SEA) is its own entry point; from dist/ the
 * entry script that started this process is passed to `node` again.
 *
 * @example
 * const self = selfCommand(['run', '--config', file]);
 * spawn(self.file, self.args, { stdio: 'inherit' });
 */
import { isSea } from 'node:sea';

/** A command line for `child_process.spawn(file, args)`. */
export interface SelfCommand {
  readonly file: string;
  readonly args: readonly string[];
}

/** True when this process is the single-executable build (no script file next to it). */
export function isSingleExecutable(): boolean {
  return isSea();
}

/** The command line that runs this agent binary with `args`. */
export function selfCommand(args: readonly string[]): SelfCommand {
  if (isSingleExecutable()) return { file: process.execPath, args: [...args] };
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot re-run the agent: process.argv[1] (the entry script) is missing');
  return { file: process.execPath, args: [...process.execArgv, entry, ...args] };
}
