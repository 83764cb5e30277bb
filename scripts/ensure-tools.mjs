#!/usr/bin/env node
/**
 * Makes sure the external tools the tests and `dev` need are installed.
 *
 *   node scripts/ensure-tools.mjs              every tool in TOOLS (what `npm test` and .ci/run need)
 *   node scripts/ensure-tools.mjs nats-server  only the named tools (what `npm run dev` needs)
 *
 * A tool is present when its `env` override names an executable, or its binary is on PATH (or in
 * EXTRA_DIRS, where Debian and manual installs put sbin tools). An override that is set but not
 * executable is an error, since the tests would not fall back either. When something is missing and
 * we are root on Debian/Ubuntu, `apt-get update` runs once and one `apt-get install -y` installs every
 * missing package; elsewhere the script prints exactly what to install and exits 1. Nothing is skipped.
 *
 * To add a tool, add one row to TOOLS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { EXTRA_DIRS, locate } from '../devtools/tool-locator.mjs';

// The discovery itself is shared with the dev broker (devtools/tool-locator.mjs).
export { EXTRA_DIRS, locate };

/**
 * One row per tool: `bin` (looked up on PATH), `pkg` (the Debian package that provides it),
 * `why` (which tests or command need it), optional `env` (an override holding the binary's path).
 */
export const TOOLS = [
  { bin: 'nats-server', pkg: 'nats-server', why: 'every broker test and `dev`', env: 'KANADE_NATS_SERVER' },
  { bin: 'chromium', pkg: 'chromium', why: 'spec/inspector/browser.spec.ts', env: 'KANADE_CHROMIUM' },
  {
    bin: 'wine',
    pkg: 'wine',
    why: 'spec/windows/ (the agent under Wine, docs/windows.md), the Windows service under Wine (spec/service/), spec/release/windows-exe.spec.ts',
  },
  {
    bin: 'x86_64-w64-mingw32-gcc',
    pkg: 'gcc-mingw-w64-x86-64',
    why: 'scripts/build-native.mjs (native/*.c), spec/windows/fixtures/*.c',
    env: 'KANADE_MINGW_GCC',
  },
  { bin: 'systemd-analyze', pkg: 'systemd', why: 'spec/service/ (systemd-analyze verify of the generated unit)' },
  { bin: 'plistutil', pkg: 'libplist-utils', why: 'spec/service/ (the generated launchd plist parses)' },
];

const PREFIX = 'ensure-tools:';

/** The lines telling a person how to get the missing rows. */
export function installHint(missing) {
  const pkgs = [...new Set(missing.map((row) => row.pkg))].join(' ');
  const lines = [`${PREFIX} missing ${missing.map((row) => `${row.bin} (for ${row.why})`).join(', ')}`];
  lines.push(`  Debian/Ubuntu: sudo apt-get install -y ${pkgs}`);
  for (const row of missing.filter((r) => r.env)) {
    lines.push(`  or set ${row.env}=/path/to/${row.bin}`);
  }
  return lines.join('\n');
}

/** Runs a command with inherited stdio; exits with its status when it fails. */
function run(cmd, args) {
  console.error(`${PREFIX} ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error || r.status !== 0) {
    console.error(`${PREFIX} ${cmd} failed: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}`);
    process.exit(r.status || 1);
  }
}

/** Ensures the rows named in `names` (all rows when empty); returns the process exit code. */
export function ensure(names) {
  const unknown = names.filter((name) => !TOOLS.some((row) => row.bin === name));
  if (unknown.length > 0) {
    console.error(`${PREFIX} unknown tool ${unknown.join(', ')}; known: ${TOOLS.map((r) => r.bin).join(', ')}`);
    return 2;
  }
  const rows = names.length === 0 ? TOOLS : TOOLS.filter((row) => names.includes(row.bin));
  const located = rows.map((row) => ({ row, where: locate(row) }));

  const bad = located.filter(({ where }) => where.badOverride);
  if (bad.length > 0) {
    for (const { row, where } of bad) {
      console.error(`${PREFIX} ${row.env}=${where.badOverride} is not executable`);
    }
    console.error(installHint(bad.map(({ row }) => row)));
    return 1;
  }
  const missing = located.filter(({ where }) => !where.path).map(({ row }) => row);
  if (missing.length === 0) return 0;

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !existsSync('/etc/debian_version')) {
    console.error(installHint(missing));
    return 1;
  }
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', ...new Set(missing.map((row) => row.pkg))]);
  const still = missing.filter((row) => !locate(row).path);
  if (still.length > 0) {
    console.error(`${PREFIX} apt-get succeeded but these are still missing:`);
    console.error(installHint(still));
    return 1;
  }
  for (const row of missing) console.error(`${PREFIX} installed ${locate(row).path}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exit(ensure(process.argv.slice(2)));
}
