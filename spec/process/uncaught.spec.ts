/**
 * An error thrown outside every actor (a timer callback, an unawaited rejection) is a crash of the
 * root: one fatal log line, the tree is stopped, exit 1 — never a Node crash dump on stderr.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readLastExit } from '../../supervisor/last-exit.js';
import { agentDir, type AgentDir } from './agent-process.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/uncaught-agent.mjs', import.meta.url));
const dirs: AgentDir[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => d.remove()));
});

function runFixture(configPath: string, kind: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FIXTURE, configPath, kind], { env: { ...process.env, KANADE_AGENT_DATA_DIR: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('uncaught errors', () => {
  it.each(['exception', 'rejection'])('an uncaught %s is one fatal line and exit 1, with the tree stopped', async (kind) => {
    // No broker needed: nothing here connects.
    const dir = await agentDir(['nats://127.0.0.1:9']);
    dirs.push(dir);
    const run = await runFixture(dir.configPath, kind);
    expect(run.code).toBe(1);
    // stderr holds only the one-line startup summary: no Node crash dump.
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^kanade-agent \S+ starting: pc_id lifecycle-pc, /)]);
    const fatal = run.stdout.split('\n').filter((line) => line.includes('"level":"fatal"'));
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toContain('uncaught error: stopping the agent');
    expect(run.stdout).toContain('all children stopped');
    expect(await readLastExit(dir.dataDir)).toMatchObject({ reason: 'crashed', exit_code: 1 });
  });
});
