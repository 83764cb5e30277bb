#!/usr/bin/env node
/**
 * Compiles every `native/*.c` into `build/native/<name>.exe` with Debian's MinGW-w64 cross compiler
 * (`x86_64-w64-mingw32-gcc`, package gcc-mingw-w64-x86-64). The outputs are Windows programs that
 * the Windows release carries (the service host, the per-command Job Object launcher); they are
 * build outputs and git-ignored.
 *
 * Usage: node scripts/build-native.mjs [name ...]   (no names: all of native/*.c)
 * Env:   KANADE_MINGW_GCC overrides the compiler path.
 *
 * Rebuilds only when the source is newer than the output. Exits 1 with an install hint when the
 * compiler is missing (as root on Debian/Ubuntu it installs the package first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC_DIR = join(ROOT, 'native');
const OUT_DIR = join(ROOT, 'build', 'native');
const CC = process.env.KANADE_MINGW_GCC || 'x86_64-w64-mingw32-gcc';
const PACKAGE = 'gcc-mingw-w64-x86-64';
/** Warnings are errors; -municode gives wmain/wWinMain; static libgcc so the exe needs only system DLLs. */
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-municode', '-static', '-static-libgcc', '-s'];
/** Per-program link libraries beyond the MinGW defaults (kernel32, advapi32 are in by default). */
const LIBS = { 'kanade-service-host': ['-ladvapi32'], 'kanade-job': [] };

function haveCompiler() {
  return spawnSync(CC, ['--version'], { stdio: 'ignore' }).status === 0;
}

function ensureCompiler() {
  if (haveCompiler()) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/etc/debian_version') && !process.env.KANADE_MINGW_GCC) {
    console.error(`build-native: installing ${PACKAGE}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const first = spawnSync('apt-get', ['install', '-y', '-qq', PACKAGE], { stdio: 'inherit', env });
    if (first.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      spawnSync('apt-get', ['install', '-y', '-qq', PACKAGE], { stdio: 'inherit', env });
    }
    if (haveCompiler()) return;
  }
  console.error(`build-native: ${CC} not found: install it with 'apt-get install -y ${PACKAGE}' or set KANADE_MINGW_GCC`);
  process.exit(1);
}

const wanted = process.argv.slice(2);
const sources = readdirSync(SRC_DIR)
  .filter((f) => f.endsWith('.c'))
  .map((f) => basename(f, '.c'))
  .filter((name) => wanted.length === 0 || wanted.includes(name));
if (wanted.length > 0 && sources.length !== wanted.length) {
  console.error(`build-native: no such source among native/*.c: ${wanted.filter((w) => !sources.includes(w)).join(', ')}`);
  process.exit(1);
}

mkdirSync(OUT_DIR, { recursive: true });
let checked = false;
for (const name of sources) {
  const src = join(SRC_DIR, `${name}.c`);
  const out = join(OUT_DIR, `${name}.exe`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
  if (!checked) {
    ensureCompiler();
    checked = true;
  }
  const args = [...CFLAGS, '-o', out, src, ...(LIBS[name] ?? [])];
  const r = spawnSync(CC, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-native: ${CC} ${args.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.error(`build-native: built ${out}`);
}
