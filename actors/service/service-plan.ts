/**
 * A service install/uninstall as data: a list of steps that `applyPlan` carries out through a narrow
 * port, and `describeStep` prints for `--dry-run`. The per-OS planners (windows-service.ts,
 * systemd-service.ts, launchd-service.ts) are pure functions of the facts gathered beforehand, so
 * every argv and every file they produce is checked by unit tests without touching the machine.
 *
 * @example
 * const plan = systemdInstallPlan(facts);
 * for (const step of plan.steps) console.log(describeStep(step));
 */

/** What happens when a `run` step exits non-zero. */
export type OnFail = 'abort' | 'warn' | 'ignore';

export type Step =
  /** Create a directory (and parents); mode applies to directories created here. */
  | { readonly op: 'mkdir'; readonly path: string; readonly mode: number }
  /** Write a file atomically (temp file + rename); `onlyIfMissing` keeps an existing file. */
  | { readonly op: 'write'; readonly path: string; readonly content: string; readonly mode: number; readonly onlyIfMissing?: boolean }
  /** Copy a file atomically (to `<to>.new`, then rename over `to`). */
  | { readonly op: 'copy'; readonly from: string; readonly to: string; readonly mode: number }
  /** Run a program; `okCodes` (default [0]) count as success. */
  | { readonly op: 'run'; readonly argv: readonly string[]; readonly onFail: OnFail; readonly okCodes?: readonly number[] }
  /** Run `argv` every 500 ms until its stdout matches `until` or `timeoutMs` passes (then warn). */
  | { readonly op: 'waitFor'; readonly argv: readonly string[]; readonly until: RegExp; readonly what: string; readonly timeoutMs: number }
  /** Remove a file, or a directory tree when `recursive`; missing is fine. */
  | { readonly op: 'remove'; readonly path: string; readonly recursive?: boolean }
  /** Remove a directory only if it is empty. */
  | { readonly op: 'rmdirIfEmpty'; readonly path: string }
  /** A line for the operator (what to edit next, what was kept). */
  | { readonly op: 'note'; readonly text: string };

/** A plan plus what it is for. */
export interface Plan {
  readonly summary: string;
  readonly steps: readonly Step[];
}

/** The command line shown for an argv: arguments with blanks or quotes are double-quoted. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (a === '' || /[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/** One line per step for `--dry-run` and for the progress log. */
export function describeStep(step: Step): string {
  switch (step.op) {
    case 'mkdir':
      return `mkdir -p -m ${step.mode.toString(8).padStart(4, '0')} ${step.path}`;
    case 'write':
      return `write ${step.path} (mode ${step.mode.toString(8).padStart(4, '0')}${step.onlyIfMissing === true ? ', only if missing' : ''})`;
    case 'copy':
      return `copy ${step.from} -> ${step.to} (mode ${step.mode.toString(8).padStart(4, '0')})`;
    case 'run':
      return `run ${formatArgv(step.argv)}${step.onFail === 'abort' ? '' : ` (failure: ${step.onFail})`}`;
    case 'waitFor':
      return `wait up to ${step.timeoutMs / 1000} s for ${step.what} (${formatArgv(step.argv)})`;
    case 'remove':
      return `remove ${step.recursive === true ? '-r ' : ''}${step.path}`;
    case 'rmdirIfEmpty':
      return `remove ${step.path} if empty`;
    case 'note':
      return `note: ${step.text}`;
  }
}

/** How the service starts the agent: the installed single executable, or node + script (from dist/). */
export type AgentSource =
  { readonly kind: 'exe'; readonly path: string } | { readonly kind: 'node'; readonly node: string; readonly script: string };

/** What the planners need to know about the machine, gathered before planning. */
export interface ServiceFacts {
  /** The running agent: copied into place when it is an executable. */
  readonly self: AgentSource;
  /** `--config FILE`, else the OS default (§11). */
  readonly configPath: string;
  readonly configExists: boolean;
  /** The service (unit, plist, SCM entry) already exists: install upgrades in place. */
  readonly installed: boolean;
}
