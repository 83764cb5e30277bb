/** Spawns the compiled `kanade-agent` CLI and collects its output (process-level tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the compiled entry point that `npm test` builds before running specs. */
export const AGENT_BIN = fileURLToPath(new URL('../../dist/bin/kanade-agent.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kanade-agent <args>` to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return finished(spawnCli(args, env));
}

/** Starts `kanade-agent <args>` and returns the child (the caller ends it). */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess & { output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => { output.stdout += chunk.toString('utf8'); });
  child.stderr?.on('data', (chunk: Buffer) => { output.stderr += chunk.toString('utf8'); });
  return Object.assign(child, { output });
}

/** Resolves when a spawned CLI exits. */
export function finished(child: ChildProcess & { output: { stdout: string; stderr: string } }): Promise<CliRun> {
  return new Promise((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, ...child.output });
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode as NodeJS.Signals | null);
    else child.once('exit', done);
  });
}
