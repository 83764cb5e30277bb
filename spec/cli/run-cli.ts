/**
 * Spawns the `kanade-agent` CLI under test (dist/ or the single executable, see
 * spec/harness/agent-binary.ts) and collects its output (process-level tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { agentBinary, DIST_ENTRY, type AgentBinary } from '../harness/agent-binary.js';

/** The dist/ entry only; spawn through {@link agentBinary} so a test also covers the executable. */
export const AGENT_BIN = DIST_ENTRY;

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kanade-agent <args>` to completion. */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  binary: AgentBinary = agentBinary(),
): Promise<CliRun> {
  return finished(spawnCli(args, env, binary));
}

/** Starts `kanade-agent <args>` and returns the child (the caller ends it). */
export function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  binary: AgentBinary = agentBinary(),
): ChildProcess & { output: { stdout: string; stderr: string } } {
  const child = spawn(binary.file, [...binary.args, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString('utf8');
  });
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
