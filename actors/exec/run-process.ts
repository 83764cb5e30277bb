/**
 * Starts a command's shell as a plain child process (§8.3, §8.4) and kills its whole tree on
 * request: on Unix the child leads a new session/process group and a kill is SIGTERM to the group,
 * SIGKILL after `KILL_ESCALATION_MS`; on Windows the shell runs under `kanade-job.exe`, which holds
 * it in a Job Object that dies with the launcher (actors/exec/job-launcher.ts), so a kill terminates
 * the launcher (`taskkill /T /F` only when no launcher is available). PowerShell scripts are staged
 * as BOM-prefixed `.ps1` files plus a UTF-8 launcher, deleted after the run.
 *
 * @example
 * const proc = await startProcess({ shell: 'sh', script: 'echo ok' });
 * const outcome = await proc.done; // { kind: 'exited', exitCode: 0, stdout: 'ok\n', stderr: '' }
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KILL_ESCALATION_MS, OUTPUT_DRAIN_GRACE_MS, type Shell } from '../../contract/index.js';
import { JOB_LAUNCH_FAILED_EXIT, type JobLauncherSource } from './job-launcher.js';
import { OutputCapture } from './output-capture.js';
import { scriptEnv } from './script-env.js';

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * What to run. `platform`, `env`, `stagingRoot` are injectable for tests (fake pwsh on PATH); the
 * child gets `env` (default: the agent's) through `scriptEnv`, never as it is.
 */
export interface ProcessSpec {
  readonly shell: Shell;
  readonly script: string;
  readonly cwd?: string;
  readonly platform?: NodeJS.Platform;
  readonly env?: NodeJS.ProcessEnv;
  /** Overrides the per-OS staging parent for PowerShell scripts. */
  readonly stagingRoot?: string;
  readonly maxCaptureBytes?: number;
  /** Windows: the Job Object launcher to run the shell under (see actors/exec/job-launcher.ts). */
  readonly jobLauncher?: JobLauncherSource;
}

/** How a process ended. */
export type ProcessOutcome =
  | { readonly kind: 'exited'; readonly exitCode: number; readonly stdout: string; readonly stderr: string }
  | { readonly kind: 'spawnFailed'; readonly error: string };

/** A started process. */
export interface RunningProcess {
  readonly pid: number | undefined;
  /** Settles once the process exited and its output drained (or the grace ran out). Never rejects. */
  readonly done: Promise<ProcessOutcome>;
  /** Kills the whole tree (idempotent). */
  kill(): void;
}

/** The program and argv for a shell (§8.3); `launcher` is the staged PowerShell launcher. */
export function shellInvocation(
  shell: Shell,
  script: string,
  platform: NodeJS.Platform,
  launcher?: string,
): { file: string; args: string[] } {
  const windows = platform === 'win32';
  switch (shell) {
    case 'sh':
      return { file: 'sh', args: ['-c', script] };
    case 'cmd':
      return { file: windows ? 'cmd.exe' : 'cmd', args: ['/C', script] };
    case 'powershell':
    case 'pwsh': {
      // Off Windows only PowerShell 7 exists, so `powershell` runs `pwsh` (§8.3 our choice).
      const file = shell === 'powershell' && windows ? 'powershell.exe' : windows ? 'pwsh.exe' : 'pwsh';
      const policy = windows ? ['-ExecutionPolicy', 'Bypass'] : [];
      return { file, args: ['-NoProfile', '-NonInteractive', ...policy, '-File', launcher ?? ''] };
    }
  }
}

/** Windows: the directory holding every run's staging directory (ACL'ed at start: actors/windows-acl.ts). */
export function windowsStagingRoot(env: NodeJS.ProcessEnv): string {
  const programData = env['ProgramData'] ?? env['PROGRAMDATA'] ?? 'C:\\ProgramData';
  return path.win32.join(programData, 'Kanade', 'agent-scripts');
}

/** The per-OS staging directory of §8.3 for one run. */
export function stagingDirFor(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, id: string = randomUUID()): string {
  if (platform === 'win32') return path.win32.join(windowsStagingRoot(env), id);
  if (platform === 'darwin') return path.posix.join('/Library/Application Support/Kanade/agent-scripts', id);
  return path.join(os.tmpdir(), `kanade-agent-${id}`);
}

/** The launcher's text: UTF-8 console in and out, then the script with the launcher's arguments. */
export function launcherScript(scriptPath: string): string {
  const quoted = scriptPath.replace(/'/g, "''");
  return [
    '$OutputEncoding = [System.Text.UTF8Encoding]::new($false)',
    '[Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)',
    '[Console]::InputEncoding = [System.Text.UTF8Encoding]::new($false)',
    `& '${quoted}' @args`,
    'if ($null -ne $LASTEXITCODE) { exit $LASTEXITCODE }',
    '',
  ].join('\r\n');
}

/** Stages script.ps1 (UTF-8 BOM) and launcher.ps1 in a fresh directory; returns the directory and launcher path. */
export async function stagePowerShell(script: string, dir: string): Promise<{ dir: string; launcher: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const scriptPath = path.join(dir, 'script.ps1');
  const launcher = path.join(dir, 'launcher.ps1');
  await writeFile(scriptPath, Buffer.concat([UTF8_BOM, Buffer.from(script, 'utf8')]), { mode: 0o600 });
  await writeFile(launcher, Buffer.concat([UTF8_BOM, Buffer.from(launcherScript(scriptPath), 'utf8')]), { mode: 0o600 });
  return { dir, launcher };
}

/** Starts the process. Resolves once it is running (or failed to start); output is collected until `done`. */
export async function startProcess(spec: ProcessSpec): Promise<RunningProcess> {
  const platform = spec.platform ?? process.platform;
  const env = spec.env ?? process.env;
  if (spec.cwd !== undefined) {
    // Node reports a missing cwd as "spawn sh ENOENT", which reads like a missing shell.
    const isDir = await stat(spec.cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) return failed(`cwd ${spec.cwd} is not an existing directory`);
  }
  let staged: { dir: string; launcher: string } | undefined;
  if (spec.shell === 'powershell' || spec.shell === 'pwsh') {
    const dir = spec.stagingRoot !== undefined ? path.join(spec.stagingRoot, `kanade-agent-${randomUUID()}`) : stagingDirFor(platform, env);
    try {
      staged = await stagePowerShell(spec.script, dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      return failed(`cannot stage the script in ${dir}: ${(err as Error).message}`);
    }
  }
  const cleanup = async () => {
    if (staged !== undefined) await rm(staged.dir, { recursive: true, force: true }).catch(() => undefined);
  };
  const shell = shellInvocation(spec.shell, spec.script, platform, staged?.launcher);
  const windows = platform === 'win32';
  const verbatim = spec.shell === 'cmd' && windows;
  const jobLauncher = windows ? await spec.jobLauncher?.() : undefined;
  // Under the launcher the shell's command line follows the launcher's own name unchanged.
  const { file, args } = jobLauncher === undefined ? shell : { file: jobLauncher, args: [shell.file, ...shell.args] };

  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: spec.cwd,
      // Every shell on every platform: no NATS credentials or signing settings in scripts (§8.3).
      env: scriptEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Unix: its own session and process group, so a kill reaches every descendant.
      detached: !windows,
      windowsHide: true,
      // cmd parses its own command line; Node's quoting would mangle the script.
      windowsVerbatimArguments: verbatim,
      // Verbatim arguments are not quoted, not even the program's own name.
      ...(verbatim && jobLauncher !== undefined && { argv0: `"${jobLauncher}"` }),
    });
  } catch (err) {
    await cleanup();
    return failed((err as Error).message);
  }

  const started = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (started !== undefined) {
    await cleanup();
    return failed(started.message);
  }

  const stdout = new OutputCapture(spec.maxCaptureBytes);
  const stderr = new OutputCapture(spec.maxCaptureBytes);
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  const pid = child.pid;
  let killed = false;
  let launchFailed = false;
  let escalation: NodeJS.Timeout | undefined;

  const done = new Promise<ProcessOutcome>((resolve) => {
    let exitCode: number | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = () => {
      if (settled || exitCode === undefined) return;
      settled = true;
      if (drainTimer !== undefined) clearTimeout(drainTimer);
      // A descendant may still hold the pipes; after the grace we stop reading (§8.4).
      child.stdout?.destroy();
      child.stderr?.destroy();
      void cleanup().then(() =>
        resolve(
          launchFailed
            ? { kind: 'spawnFailed', error: launchError(stderr.text()) }
            : { kind: 'exited', exitCode: exitCode as number, stdout: stdout.text(), stderr: stderr.text() },
        ),
      );
    };
    child.once('exit', (code, signal) => {
      exitCode = exitCodeOf(code, signal);
      if (jobLauncher !== undefined && code === JOB_LAUNCH_FAILED_EXIT && !killed) launchFailed = true;
      drainTimer = setTimeout(finish, OUTPUT_DRAIN_GRACE_MS);
    });
    child.once('close', finish);
  });

  return {
    pid,
    done,
    kill() {
      if (killed || pid === undefined) return;
      killed = true;
      if (windows) {
        // TerminateProcess of the launcher closes the job, and the job takes the whole tree along.
        if (jobLauncher !== undefined) {
          child.kill();
          return;
        }
        // No launcher: taskkill walks the tree; where it fails (Wine's has no /T), at least the shell dies.
        spawn('taskkill', ['/T', '/F', '/PID', String(pid)], { stdio: 'ignore', windowsHide: true })
          .on('error', () => child.kill())
          .on('exit', (code) => {
            if (code !== 0) child.kill();
          });
        return;
      }
      signalGroup(pid, 'SIGTERM');
      escalation = setTimeout(() => {
        if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
      }, KILL_ESCALATION_MS);
      // Once every member is gone there is nothing to escalate against.
      const poll = setInterval(() => {
        if (!groupAlive(pid)) {
          clearInterval(poll);
          if (escalation !== undefined) clearTimeout(escalation);
        }
      }, 100);
      setTimeout(() => clearInterval(poll), KILL_ESCALATION_MS + 100);
    },
  };
}

/** The spawn failure text of a launcher that could not start the shell: its one `kanade-job: …` stderr line. */
export function launchError(stderr: string): string {
  const line = stderr.split(/\r?\n/).find((l) => l.startsWith('kanade-job: ')) ?? 'kanade-job: launch failed';
  return line.slice('kanade-job: '.length);
}

function failed(error: string): RunningProcess {
  return { pid: undefined, done: Promise.resolve({ kind: 'spawnFailed', error }), kill: () => undefined };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The ExecResult exit code of a child's `exit` event: `| 0` wraps Windows' unsigned DWORD codes
 * (0xC0000005 → -1073741819) into the contract's i32 (§5.3); a signal death is 128 + its number.
 */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code | 0;
  return signal !== null ? 128 + (os.constants.signals[signal] ?? 0) : -1;
}
