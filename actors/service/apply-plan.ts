/**
 * Carries out a {@link Plan} through a narrow port (the only effects of `service install`), and
 * the port's real implementation. Tests drive `applyPlan` with a recording fake.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { copyDurable } from '../updater/install-state.js';
import { syncDirectory } from '../durable-fs.js';
import { describeStep, formatArgv, type Plan, type Step } from './service-plan.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Everything `service` does to the machine. */
export interface ServicePort {
  run(argv: readonly string[]): Promise<RunResult>;
  exists(path: string): Promise<boolean>;
  mkdir(path: string, mode: number): Promise<void>;
  /** Temp file next to `path`, then rename. */
  writeFile(path: string, content: string, mode: number): Promise<void>;
  /** Copy to `<to>.new`, then rename over `to` (a running executable on Linux keeps its inode). */
  copyFile(from: string, to: string, mode: number): Promise<void>;
  remove(path: string, recursive: boolean): Promise<void>;
  rmdirIfEmpty(path: string): Promise<void>;
  sleep(ms: number): Promise<void>;
}

/** How a plan went: `failed` names the step that aborted it. */
export interface PlanOutcome {
  readonly ok: boolean;
  readonly warnings: readonly string[];
  readonly failed?: string;
}

/** Runs the steps in order; an `abort` step that fails stops the plan. `print` gets one line per step. */
export async function applyPlan(plan: Plan, port: ServicePort, print: (line: string) => void): Promise<PlanOutcome> {
  const warnings: string[] = [];
  print(`${plan.summary}:`);
  for (const step of plan.steps) {
    if (step.op === 'note') {
      print(`  ${step.text}`);
      continue;
    }
    print(`  ${describeStep(step)}`);
    const error = await applyStep(step, port);
    if (error === undefined) continue;
    if (step.op === 'run' && step.onFail === 'ignore') continue;
    if ((step.op === 'run' && step.onFail === 'warn') || step.op === 'waitFor') {
      warnings.push(error);
      print(`  warning: ${error}`);
      continue;
    }
    print(`  failed: ${error}`);
    return { ok: false, warnings, failed: `${describeStep(step)}: ${error}` };
  }
  return { ok: true, warnings };
}

/** One step; returns an error text or undefined. */
async function applyStep(step: Exclude<Step, { op: 'note' }>, port: ServicePort): Promise<string | undefined> {
  try {
    switch (step.op) {
      case 'mkdir':
        await port.mkdir(step.path, step.mode);
        return undefined;
      case 'write':
        if (step.onlyIfMissing === true && (await port.exists(step.path))) return undefined;
        await port.writeFile(step.path, step.content, step.mode);
        return undefined;
      case 'copy':
        await port.copyFile(step.from, step.to, step.mode);
        return undefined;
      case 'remove':
        await port.remove(step.path, step.recursive === true);
        return undefined;
      case 'rmdirIfEmpty':
        await port.rmdirIfEmpty(step.path);
        return undefined;
      case 'run': {
        const r = await port.run(step.argv);
        if ((step.okCodes ?? [0]).includes(r.code)) return undefined;
        const said = (r.stderr.trim() || r.stdout.trim()).split(/\r?\n/).slice(-3).join(' | ');
        return `${formatArgv(step.argv)} exited ${r.code}${said ? `: ${said}` : ''}`;
      }
      case 'waitFor': {
        for (let waited = 0; waited <= step.timeoutMs; waited += 500) {
          if (step.until.test((await port.run(step.argv)).stdout)) return undefined;
          await port.sleep(500);
        }
        return `timed out after ${step.timeoutMs / 1000} s waiting for ${step.what}`;
      }
    }
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The real port: node:fs and child processes (no shell). */
export function createNodeServicePort(): ServicePort {
  return {
    run: (argv) =>
      new Promise((resolve) => {
        execFile(argv[0]!, argv.slice(1), { windowsHide: true, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
          resolve({ code, stdout: String(stdout), stderr: err !== null && typeof err.code !== 'number' ? err.message : String(stderr) });
        });
      }),
    exists: async (path) =>
      stat(path).then(
        () => true,
        () => false,
      ),
    mkdir: async (path, mode) => {
      await mkdir(path, { recursive: true, mode });
    },
    writeFile: async (path, content, mode) => {
      const tmp = `${path}.tmp-${process.pid}`;
      await writeFile(tmp, content, { mode });
      await chmod(tmp, mode);
      await rename(tmp, path);
    },
    copyFile: async (from, to, mode) => {
      // The updater's durable copy (fs-extra's copy, then fsync), then one atomic rename over `to`.
      const tmp = `${to}.new`;
      await copyDurable(from, tmp, mode);
      await rename(tmp, to);
      await syncDirectory(path.dirname(to));
    },
    remove: (path, recursive) => rm(path, { force: true, recursive }),
    rmdirIfEmpty: async (path) => {
      await rmdir(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT' && error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
