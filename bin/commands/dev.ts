/**
 * `kanade-agent dev`: a private nats-server on loopback (temp store, backend resources bootstrapped),
 * a temp agent.toml, and the agent in the foreground. Ctrl-C stops both and leaves nothing running.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { bootstrapBackendResources } from '../../actors/dev-broker/bootstrap.js';
import { pickFreePort, startNatsServer } from '../../actors/dev-broker/nats-server.js';
import { selfCommand } from '../../actors/self-command.js';
import { DEFAULT_EXEC_NATS_URL } from './exec.js';

const DEFAULT_DEV_PORT = Number(new URL(DEFAULT_EXEC_NATS_URL).port);

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
  const server = await startNatsServer({ port });
  const workDir = await mkdtemp(join(tmpdir(), 'kanade-agent-dev-'));
  const cleanup = async (): Promise<void> => {
    await server.cleanup();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const nc = await connect({ servers: server.url, name: 'kanade-agent-dev-bootstrap' });
    await bootstrapBackendResources(nc);
    await nc.close();
  } catch (err) {
    await cleanup();
    throw err;
  }
  const configPath = join(workDir, 'agent.toml');
  await writeFile(configPath, devConfig(opts.id, server.url, join(workDir, 'data')));

  const exec = server.url === DEFAULT_EXEC_NATS_URL ? '' : ` --nats ${server.url}`;
  process.stderr.write(
    [
      `kanade-agent dev: nats-server ${server.url} (store ${server.storeDir}), config ${configPath}`,
      `send a command from another terminal:  npx kanade-agent exec${exec} --pc ${opts.id} -- 'echo hi'`,
      'Ctrl-C stops the agent and the broker.',
      '',
    ].join('\n'),
  );

  const agentArgs = ['run', '--config', configPath];
  if (opts.inspect !== undefined && opts.inspect !== false) agentArgs.push('--inspect', ...(opts.inspect === true ? [] : [opts.inspect]));
  const env = { ...process.env };
  delete env['KANADE_AGENT_DATA_DIR'];
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
