/**
 * `kanade-agent config check` and `kanade-agent run --check-config`: validate agent.toml and print
 * the effective file config without starting anything. Exit 0 when the agent would start with it,
 * 78 (EX_CONFIG) when not; warnings (unknown keys, an unwritable log dir) go to stderr.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadAgentConfig, WINDOWS_CONTROL_PIPE, type AgentConfig } from '../../actors/config/load-config.js';
import { PROCESS_EXIT_CONFIG } from '../../contract/index.js';

/** Registers `config check`. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('inspect agent.toml');
  config
    .command('check')
    .description('validate agent.toml and print the effective file config; starts nothing (exit 0 valid, 78 invalid)')
    .option('-c, --config <file>', 'agent.toml (default: $KANADE_AGENT_CONFIG, then the OS default path)')
    .action(async (opts: { config?: string }) => {
      process.exitCode = await checkConfig(opts.config);
    });
}

/** The nearest existing ancestor of `dir` is writable (so the agent can create `dir`), or `dir` is. */
async function writableProblem(dir: string): Promise<string | undefined> {
  let probe = path.resolve(dir);
  for (;;) {
    try {
      await access(probe, constants.W_OK);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || path.dirname(probe) === probe) return `${probe}: ${code ?? (error as Error).message}`;
      probe = path.dirname(probe);
    }
  }
}

function effectiveToml(config: AgentConfig): string {
  const q = (value: unknown): string => JSON.stringify(value);
  const c = config.credentials;
  const auth =
    c.user !== undefined
      ? `user ${q(c.user)} + password${c.token !== undefined ? ', token fallback' : ''}`
      : c.token !== undefined
        ? 'token'
        : 'none (unauthenticated)';
  return [
    `# effective file config of ${config.configPath}`,
    '[agent]',
    `id = ${q(config.pcId)}`,
    `nats_url = ${q(config.natsUrls.length === 1 ? config.natsUrls[0] : config.natsUrls)}`,
    `data_dir = ${q(config.dataDir)}`,
    '',
    '[log]',
    config.log.path === undefined ? '# path: none, logging to stdout' : `path = ${q(config.log.path)}`,
    `level = ${q(config.log.level)}`,
    `keep_days = ${config.log.keepDays}`,
    `max_size = ${config.log.maxSizeBytes ?? 'default'}`,
    '',
    '[security]',
    `command_keys_file = ${q(config.security.commandKeysFile)}`,
    `require_signed_commands = ${config.security.requireSignedCommands}`,
    '',
    '[control]',
    `socket = ${q(config.control.socket)}`,
    '',
    '[inventory]',
    `enabled = ${config.inventory.enabled}`,
    `interval_ms = ${config.inventory.intervalMs}`,
    `jitter_ms = ${config.inventory.jitterMs}`,
    '',
    `# NATS credentials (from the environment, never printed): ${auth}`,
  ].join('\n');
}

/** Validates the config the way `run` would, prints it; returns the exit code. */
export async function checkConfig(configPath: string | undefined): Promise<number> {
  let config: AgentConfig;
  try {
    config = await loadAgentConfig(configPath === undefined ? {} : { configPath });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`kanade-agent: ${error.message}\n`);
    return PROCESS_EXIT_CONFIG;
  }
  const errors: string[] = [];
  const dataProblem = await writableProblem(config.dataDir);
  if (dataProblem !== undefined)
    errors.push(
      `${config.configPath}: data dir ${config.dataDir} is not writable (${dataProblem}); [agent] data_dir (or KANADE_AGENT_DATA_DIR) must name a directory this user can create and write`,
    );
  if (config.control.socket !== WINDOWS_CONTROL_PIPE) {
    const socketProblem = await writableProblem(path.dirname(config.control.socket));
    if (socketProblem !== undefined)
      errors.push(
        `${config.configPath}: control socket directory ${path.dirname(config.control.socket)} is not writable (${socketProblem}); [control] socket must name a path in a directory this user can write`,
      );
  }
  const warnings = [...config.warnings];
  if (config.log.path !== undefined) {
    const logProblem = await writableProblem(path.dirname(config.log.path));
    if (logProblem !== undefined)
      warnings.push(
        `log directory ${path.dirname(config.log.path)} is not writable (${logProblem}); the agent would run and drop log lines`,
      );
  }
  for (const warning of warnings) process.stderr.write(`kanade-agent: warning: ${warning}\n`);
  if (errors.length > 0) {
    for (const error of errors) process.stderr.write(`kanade-agent: ${error}\n`);
    return PROCESS_EXIT_CONFIG;
  }
  process.stdout.write(`${effectiveToml(config)}\n`);
  process.stderr.write(
    `kanade-agent: ${config.configPath}: OK${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}\n`,
  );
  return 0;
}
