/**
 * Issue #12: stdin EOF stops the agent only when a service host sets KANADE_AGENT_STOP_ON_STDIN_EOF=1
 * (systemd's stdin is /dev/null, which is EOF at once).
 */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STOP_ON_STDIN_EOF_ENV, watchStdinEof } from '../../actors/stdin-stop.js';
import { finished } from '../cli/run-cli.js';
import { agentBinary } from '../harness/agent-binary.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { agentDir, connectionRow, waitForStatus, type AgentDir } from '../process/agent-process.js';

describe('watchStdinEof', () => {
  it.each([
    ['1', 1],
    [undefined, 0],
    ['0', 0],
    ['true', 0],
  ])('env %s: EOF calls onEof %i time(s)', async (value, calls) => {
    const stdin = new PassThrough();
    const seen: string[] = [];
    watchStdinEof(value === undefined ? {} : { [STOP_ON_STDIN_EOF_ENV]: value }, stdin, (why) => seen.push(why));
    stdin.write('ignored input\n');
    stdin.end();
    await new Promise((r) => setImmediate(r));
    stdin.destroy();
    await new Promise((r) => setImmediate(r));
    expect(seen).toHaveLength(calls);
    if (calls) expect(seen[0]).toBe('stdin closed');
  });

  it('stops watching when unwatched', async () => {
    const stdin = new PassThrough();
    const seen: string[] = [];
    const unwatch = watchStdinEof({ [STOP_ON_STDIN_EOF_ENV]: '1' }, stdin, (why) => seen.push(why));
    unwatch();
    stdin.end();
    stdin.resume();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([]);
  });
});

describe('kanade-agent run with a service host closing stdin', () => {
  let broker: Broker;
  let dir: AgentDir;
  beforeAll(async () => {
    broker = await startBroker();
    dir = await agentDir([broker.url], 'stdin-pc');
  });
  afterAll(async () => {
    await broker?.stop();
    await dir?.remove();
  });

  const start = (env: Record<string, string>) => {
    const bin = agentBinary();
    const child = spawn(bin.file, [...bin.args, 'run', '--config', dir.configPath], {
      env: { ...process.env, KANADE_AGENT_DATA_DIR: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const output = { stdout: '', stderr: '' };
    child.stdout.on('data', (c: Buffer) => (output.stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output.stderr += c.toString('utf8')));
    return Object.assign(child, { output });
  };

  it('stops gracefully (exit 0, its own log line) when stdin closes and the env asks for it', async () => {
    const child = start({ [STOP_ON_STDIN_EOF_ENV]: '1' });
    const exited = finished(child);
    await waitForStatus(dir.socket, 'connected', (r) => connectionRow(r).phase === 'running' && r.connection.connected);
    child.stdin.end();
    const run = await exited;
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('stdin closed by the service host: shutting down');
    expect(run.stdout).toContain('kanade-agent exiting');
  });

  it('keeps running after stdin EOF without the env variable', async () => {
    const child = start({ [STOP_ON_STDIN_EOF_ENV]: '' });
    const exited = finished(child);
    child.stdin.end();
    await waitForStatus(dir.socket, 'connected', (r) => connectionRow(r).phase === 'running' && r.connection.connected);
    // Still answering after EOF was delivered; then a signal stops it.
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    const run = await exited;
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('stdin closed by the service host');
  });
});
