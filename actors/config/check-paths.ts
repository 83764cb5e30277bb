/**
 * The start-up checks of the paths in the config, run before any child starts (issue #14: a
 * read-only data dir showed `ENOENT … mkdir '…/outbox'`, then `EROFS … unlink agent.sock`): the data
 * dir is created and locked (one agent per data dir), the control socket's directory must be
 * writable and nobody may answer on the socket. Each failure is one {@link ConfigError} (exit 78)
 * naming the path, the key that sets it, the OS error and the fix. An unwritable log directory is
 * not fatal: the logger drops lines and warns (actors/daily-log-file.ts).
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { ControlSocketInUseError, probeSocket } from '../control-socket.js';
import { mkdirpSync } from '../mkdirp.js';
import { acquireInstanceLock, InstanceLockedError, type InstanceLock } from '../instance-lock.js';
import { ConfigError, WINDOWS_CONTROL_PIPE, type AgentConfig } from './load-config.js';

const PRIVATE_DIR_MODE = 0o700;

function osError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code === undefined ? String(e?.message ?? error) : `${e.code}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}`;
}

/** Creates and locks the data dir; a path problem becomes a ConfigError naming `[agent] data_dir`. */
export async function lockDataDir(config: AgentConfig): Promise<InstanceLock> {
  try {
    return await acquireInstanceLock(config.dataDir);
  } catch (error) {
    if (error instanceof InstanceLockedError) throw error;
    throw new ConfigError(
      config.configPath,
      `data dir ${config.dataDir} is not usable (${osError(error)}); [agent] data_dir (or KANADE_AGENT_DATA_DIR) must name a directory this user can create and write`,
      { key: '[agent] data_dir', expected: 'a writable directory', cause: error },
    );
  }
}

/** The control socket's directory must be writable and no live process may answer on the socket. */
export async function checkControlSocketDir(config: AgentConfig): Promise<void> {
  const socket = config.control.socket;
  if (socket === WINDOWS_CONTROL_PIPE || socket.startsWith('\\\\.\\pipe\\')) return;
  const dir = path.dirname(socket);
  try {
    mkdirpSync(dir, PRIVATE_DIR_MODE);
    await access(dir, constants.W_OK);
  } catch (error) {
    throw new ConfigError(
      config.configPath,
      `control socket directory ${dir} is not writable (${osError(error)}); [control] socket must name a path in a directory this user can write`,
      { key: '[control] socket', expected: 'a path in a writable directory', cause: error },
    );
  }
  if (await probeSocket(socket)) throw new ControlSocketInUseError(socket);
}

/** The one stderr line `run` prints once its paths are checked. */
export function startupSummary(config: AgentConfig, version: string): string {
  const log = config.log.path === undefined ? 'stdout' : config.log.path;
  return [
    `kanade-agent ${version} starting: pc_id ${config.pcId}`,
    `broker ${config.natsUrls.join(',')}`,
    `config ${config.configPath}`,
    `data ${config.dataDir}`,
    `log ${log} (${config.log.level})`,
    `status socket ${config.control.socket}`,
    `pid ${process.pid}`,
  ].join(', ');
}
