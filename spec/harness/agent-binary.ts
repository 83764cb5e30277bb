/**
 * The agent binary under test: the compiled dist/ entry run by this Node, or a single executable
 * built by `npm run release` when $KANADE_TEST_AGENT_EXE names one (`npm test` sets it to the
 * linux-x64 build, so every process test also covers the executable). See docs/release.md.
 *
 * @example
 * const bin = agentBinary();
 * spawn(bin.file, [...bin.args, 'run', '--config', file]);
 */
import { fileURLToPath } from 'node:url';

/** Names the executable to test instead of dist/ (absolute or relative to the working directory). */
export const AGENT_EXE_ENV = 'KANADE_TEST_AGENT_EXE';

/** Path of the compiled entry point that `npm test` builds before running specs. */
export const DIST_ENTRY = fileURLToPath(new URL('../../dist/bin/kanade-agent.js', import.meta.url));

/** A command line prefix: spawn `file` with `[...args, <agent args>]`. */
export interface AgentBinary {
  readonly kind: 'dist' | 'exe';
  readonly file: string;
  readonly args: readonly string[];
}

/** dist/bin/kanade-agent.js under this test runner's Node. */
export function distBinary(): AgentBinary {
  return { kind: 'dist', file: process.execPath, args: [DIST_ENTRY] };
}

/** A built single executable. */
export function exeBinary(file: string): AgentBinary {
  return { kind: 'exe', file, args: [] };
}

/** The binary every process test spawns: $KANADE_TEST_AGENT_EXE when set, dist/ otherwise. */
export function agentBinary(env: NodeJS.ProcessEnv = process.env): AgentBinary {
  const exe = env[AGENT_EXE_ENV];
  return exe ? exeBinary(exe) : distBinary();
}
