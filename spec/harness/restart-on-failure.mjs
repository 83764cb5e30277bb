#!/usr/bin/env node
/**
 * A stand-in for systemd's `Restart=on-failure` in tests (no systemd runs in the test container).
 * Shared by the service tests (issue #12) and the updater tests (issue #11).
 *
 *   node spec/harness/restart-on-failure.mjs [options] [-- <command> [args...]]
 *
 * Options (each mirrors a unit key; a `--unit FILE` supplies them from a generated unit):
 *   --unit FILE              read Environment=, EnvironmentFile=, RestartSec=, RestartPreventExitStatus=,
 *                            TimeoutStopSec= and (when no command is given) ExecStart= from a unit file
 *   --env KEY=VALUE          Environment= (repeatable)
 *   --env-file FILE          EnvironmentFile= (repeatable; a leading '-' means "may be missing")
 *   --restart-sec SECONDS    RestartSec= (default 0.1 here, 100 ms, so tests stay fast)
 *   --prevent-exit CODE      RestartPreventExitStatus= (repeatable)
 *   --timeout-stop-sec S     TimeoutStopSec= (default 15)
 *   --max-starts N           give up after N starts (a test guard; default 20)
 *
 * Like systemd: the child's stdin is /dev/null, stdout/stderr are inherited; exit 0 (or a signal the
 * stand-in sent while stopping) ends the service; any other exit code not in RestartPreventExitStatus
 * starts the command again after RestartSec. SIGTERM/SIGINT to the stand-in stop the service the way
 * `KillMode=mixed` does for a single process: SIGTERM to the child, SIGKILL after TimeoutStopSec.
 *
 * Every life-cycle step is one JSON line on fd 3 when it is open, else on stderr:
 *   {"event":"started","pid":N,"start":1}  {"event":"exited","code":N,"signal":null}
 *   {"event":"restarting","delay_ms":N}  {"event":"done","code":N}
 * The stand-in exits with the last child's exit code (0 after a requested stop).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeSync } from 'node:fs';

const opts = { env: {}, envFiles: [], restartSec: 0.1, prevent: new Set(), timeoutStopSec: 15, maxStarts: 20, command: [] };

/** Parses systemd's Environment= value: space-separated KEY=VALUE words, double quotes allowed. */
function parseEnvironmentLine(value) {
  const out = {};
  for (const m of value.matchAll(/"([^"]*)"|(\S+)/g)) {
    const word = m[1] ?? m[2];
    const eq = word.indexOf('=');
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

/** Parses an EnvironmentFile: KEY=VALUE lines, '#'/';' comments, optional surrounding quotes. */
function parseEnvFile(text) {
  const out = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

function readUnit(path) {
  for (const raw of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*([A-Za-z]+)\s*=\s*(.*)$/.exec(raw);
    if (!m) continue;
    const [, key, value] = m;
    if (key === 'Environment') Object.assign(opts.env, parseEnvironmentLine(value));
    else if (key === 'EnvironmentFile') opts.envFiles.push(value);
    else if (key === 'RestartSec') opts.restartSec = Number.parseFloat(value);
    else if (key === 'RestartPreventExitStatus')
      value
        .split(/\s+/)
        .filter(Boolean)
        .forEach((c) => opts.prevent.add(Number(c)));
    else if (key === 'TimeoutStopSec') opts.timeoutStopSec = Number.parseFloat(value);
    else if (key === 'ExecStart' && opts.command.length === 0)
      opts.unitCommand = value.match(/"[^"]*"|\S+/g).map((w) => w.replace(/^"|"$/g, ''));
  }
}

const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const next = () => argv[++i];
  if (a === '--') {
    opts.command = argv.slice(i + 1);
    break;
  } else if (a === '--unit') readUnit(next());
  else if (a === '--env') Object.assign(opts.env, parseEnvironmentLine(next()));
  else if (a === '--env-file') opts.envFiles.push(next());
  else if (a === '--restart-sec') opts.restartSec = Number.parseFloat(next());
  else if (a === '--prevent-exit') opts.prevent.add(Number(next()));
  else if (a === '--timeout-stop-sec') opts.timeoutStopSec = Number.parseFloat(next());
  else if (a === '--max-starts') opts.maxStarts = Number(next());
  else {
    console.error(`restart-on-failure: unknown option ${a}`);
    process.exit(2);
  }
}
const command = opts.command.length > 0 ? opts.command : (opts.unitCommand ?? []);
if (command.length === 0) {
  console.error('restart-on-failure: no command (give `-- cmd ...` or a unit with ExecStart=)');
  process.exit(2);
}

let eventFd = 2;
try {
  writeSync(3, '');
  eventFd = 3;
} catch {
  /* fd 3 not open: events go to stderr */
}
const emit = (event) => writeSync(eventFd, `${JSON.stringify(event)}\n`);

function childEnv() {
  const env = { ...process.env, ...opts.env };
  for (const spec of opts.envFiles) {
    const optional = spec.startsWith('-');
    const path = optional ? spec.slice(1) : spec;
    if (!existsSync(path)) {
      if (optional) continue;
      console.error(`restart-on-failure: EnvironmentFile ${path} missing`);
      process.exit(1);
    }
    Object.assign(env, parseEnvFile(readFileSync(path, 'utf8')));
  }
  return env;
}

let child;
let stopping = false;
let starts = 0;
let restartTimer;

function start() {
  starts += 1;
  child = spawn(command[0], command.slice(1), { env: childEnv(), stdio: ['ignore', 'inherit', 'inherit'] });
  emit({ event: 'started', pid: child.pid, start: starts });
  child.on('error', (error) => {
    console.error(`restart-on-failure: ${error.message}`);
  });
  child.on('exit', (code, signal) => {
    emit({ event: 'exited', code, signal });
    const failed = !stopping && (code === null || code !== 0) && !opts.prevent.has(code);
    if (failed && starts < opts.maxStarts) {
      const delayMs = Math.round(opts.restartSec * 1000);
      emit({ event: 'restarting', delay_ms: delayMs });
      restartTimer = setTimeout(start, delayMs);
      return;
    }
    const finalCode = stopping ? 0 : (code ?? 1);
    emit({ event: 'done', code: finalCode });
    process.exit(finalCode);
  });
}

function stop() {
  if (stopping) return;
  stopping = true;
  clearTimeout(restartTimer);
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    emit({ event: 'done', code: 0 });
    process.exit(0);
  }
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), opts.timeoutStopSec * 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
start();
