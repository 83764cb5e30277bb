/**
 * Finds an external tool the way every part of the project does: its environment override when
 * set, else PATH, else the directories where Debian and manual installs put sbin tools. The one
 * discovery shared by `scripts/ensure-tools.mjs` (which runs before the build, hence plain ESM)
 * and `devtools/dev-broker/nats-server.ts` (tests, benches and `kanade-agent dev`).
 *
 * @example
 * locate({ bin: "nats-server", env: "KANADE_NATS_SERVER" }); // { path: "/usr/sbin/nats-server" }
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where sbin tools live even when PATH lacks them (a non-login root shell, for instance). */
export const EXTRA_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/usr/bin'];

/**
 * True if `path` exists and is executable by this user.
 * @param {string} path
 * @returns {boolean}
 */
export function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where a tool is: `{ path }` when usable, `{ badOverride }` when its env override is set but not
 * executable (callers must not fall back then), `{}` when missing.
 * @param {{ readonly bin: string, readonly env?: string }} row
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {{ path?: string, badOverride?: string }}
 */
export function locate(row, env = process.env) {
  const explicit = row.env ? env[row.env] : undefined;
  if (explicit) return isExecutable(explicit) ? { path: explicit } : { badOverride: explicit };
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  const path = dirs.map((dir) => join(dir, row.bin)).find(isExecutable);
  return path ? { path } : {};
}
