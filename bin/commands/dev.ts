/**
 * `kanade-agent dev`: a private nats-server on loopback (temp store, backend resources bootstrapped),
 * a temp agent.toml, and the agent in the foreground. Ctrl-C stops both and leaves nothing running.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { bootstrapBackendResources } from '../../devtools/dev-broker/bootstrap.js';
import { pickFreePort, startNatsServer } from '../../devtools/dev-broker/nats-server.js';
import { selfCommand } from '../../actors/self-command.js';
import { removeDevPointer, writeDevPointer } from './dev-pointer.js';
import { DEFAULT_EXEC_NATS_URL } from './exec.js';

const DEFAULT_DEV_PORT = Number(new URL(DEFAULT_EXEC_NATS_URL).port);
/** The dev broker's token, in the dev data dir (mode 0600), for `exec --token-file`. */
export const DEV_TOKEN_FILE = 'dev-nats-token';

interface DevOptions {
  port?: string;
  id: string;
  inspect?: string | boolean;
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('start a private nats-server and run the agent against it (development)')
    .option('--port <port>', `broker port (default ${DEFAULT_DEV_PORT} when free, else any free port)`)
    .option('--id <pc_id>', 'the agent id', hostname())
    .option('--inspect [port]', 'serve the state-chart inspector on 127.0.0.1 (on by default in dev)', true)
    .option('--no-inspect', 'do not serve the inspector')
    .action(async (opts: DevOptions) => {
      process.exitCode = await runDev(opts);
    });
}

async function runDev(opts: DevOptions): Promise<number> {
  const port = opts.port !== undefined ? Number(opts.port) : await preferredPort();
  // A random token: without one, any local user could `exec` as root through the dev broker (#13).
  const token = randomBytes(24).toString('base64url');
  const server = await startNatsServer({ port, token });
  const workDir = await mkdtemp(join(tmpdir(), 'kanade-agent-dev-'));
  const dataDir = join(workDir, 'data');
  const tokenFile = join(dataDir, DEV_TOKEN_FILE);
  const cleanup = async (): Promise<void> => {
    await server.cleanup();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const nc = await connect({ servers: server.url, name: 'kanade-agent-dev-bootstrap', token });
    await bootstrapBackendResources(nc);
    await nc.close();
  } catch (err) {
    await cleanup();
    throw err;
  }
  const configPath = join(workDir, 'agent.toml');
  await writeFile(configPath, devConfig(opts.id, server.url, dataDir));

  const pointerProblem = writeDevPointer({
    pid: process.pid,
    pc_id: opts.id,
    nats_url: server.url,
    config: configPath,
    token_file: tokenFile,
  });
  const lines = [`kanade-agent dev: nats-server ${server.url} (store ${server.storeDir}), config ${configPath}`];
  if (pointerProblem === undefined) {
    lines.push(
      'from another terminal (they find this dev agent and its broker token by themselves):',
      '  npx kanade-agent status',
      `  npx kanade-agent exec --pc ${opts.id} -- 'echo hi'`,
    );
  } else {
    // Without the pointer, the flags: the token still only by file, never on the command line.
    lines.push(
      `cannot record this dev agent for status/exec (${pointerProblem}); from another terminal:`,
      `  npx kanade-agent status --config ${configPath}`,
      `  npx kanade-agent exec --nats ${server.url} --token-file ${tokenFile} --pc ${opts.id} -- 'echo hi'`,
    );
  }
  lines.push('Ctrl-C stops the agent and the broker.', '');
  process.stderr.write(lines.join('\n'));

  const agentArgs = ['run', '--config', configPath];
  if (opts.inspect !== undefined && opts.inspect !== false) agentArgs.push('--inspect', ...(opts.inspect === true ? [] : [opts.inspect]));
  const env: NodeJS.ProcessEnv = { ...process.env, KANADE_NATS_TOKEN: token };
  delete env['KANADE_AGENT_DATA_DIR'];
  // Only the token: a user/password from the developer's shell would be presented first.
  delete env['KANADE_NATS_USER'];
  delete env['KANADE_NATS_PASSWORD'];
  const self = selfCommand(agentArgs);
  const agent = spawn(self.file, self.args, { stdio: 'inherit', env });
  let signals = 0;
  const forward = (signal: NodeJS.Signals) => {
    signals += 1;
    agent.kill(signals > 1 ? 'SIGKILL' : signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve) => agent.on('exit', (c, s) => resolve(c ?? (s ? 128 + 15 : 1))));
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  removeDevPointer(process.pid);
  await cleanup();
  process.stderr.write(`kanade-agent dev: agent exited with ${code}; broker stopped\n`);
  return signals > 0 && code === 0 ? 0 : code;
}

async function preferredPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer().once('error', () => resolve(false));
    probe.listen(DEFAULT_DEV_PORT, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return free ? DEFAULT_DEV_PORT : pickFreePort();
}

function devConfig(pcId: string, url: string, dataDir: string): string {
  return [
    '# written by kanade-agent dev; removed when dev stops',
    '[agent]',
    `id = ${JSON.stringify(pcId)}`,
    `nats_url = ${JSON.stringify(url)}`,
    `data_dir = ${JSON.stringify(dataDir)}`,
    '',
    '[log]',
    'level = "info"',
    'keep_days = 0',
    '',
    '[control]',
    `socket = ${JSON.stringify(join(dataDir, 'agent.sock'))}`,
    '',
  ].join('\n');
}
