#!/usr/bin/env node
/**
 * Makes sure a nats-server binary is available for the tests and `dev` mode.
 *
 * Exits 0 silently when $KANADE_NATS_SERVER is executable or nats-server is on PATH (or in
 * /usr/sbin, /usr/local/bin, where Debian and manual installs put it); exits 1 when
 * $KANADE_NATS_SERVER is set but not executable, since the test harness would not fall back. Otherwise, as root on
 * Debian/Ubuntu, installs the `nats-server` package with apt-get; elsewhere prints how to install
 * it and exits 1. The Debian package may also start a systemd service; that is harmless here.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";

const ENV_VAR = "KANADE_NATS_SERVER";
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];
const INSTALL_HINT =
  "nats-server not found: install it with 'apt-get install -y nats-server' (Debian/Ubuntu) or set KANADE_NATS_SERVER=/path/to/nats-server";

/** True if `path` exists and is executable by this user. */
function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of a usable nats-server, or undefined. */
function findNatsServer() {
  const explicit = process.env[ENV_VAR];
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  return dirs.map((dir) => join(dir, "nats-server")).find(isExecutable);
}

/** Runs a command with inherited stdio; exits with its status when it fails. */
function run(cmd, args) {
  console.error(`ensure-nats-server: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.error) {
    console.error(`ensure-nats-server: ${cmd} failed: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`ensure-nats-server: ${cmd} exited with ${r.status ?? r.signal}`);
    process.exit(r.status ?? 1);
  }
}

/** True when apt already knows an installable nats-server version (no `apt-get update` needed). */
function aptHasCandidate() {
  const r = spawnSync("apt-cache", ["policy", "nats-server"], { encoding: "utf8" });
  if (r.status !== 0) return false;
  const m = /Candidate:\s*(\S+)/.exec(r.stdout);
  return Boolean(m && m[1] !== "(none)");
}

// An explicit but broken override is a configuration error: the tests would not fall back either.
if (process.env[ENV_VAR] && !isExecutable(process.env[ENV_VAR])) {
  console.error(`ensure-nats-server: ${ENV_VAR}=${process.env[ENV_VAR]} is not executable.\n${INSTALL_HINT}`);
  process.exit(1);
}
if (findNatsServer()) process.exit(0);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (isRoot && existsSync("/etc/debian_version")) {
  if (!aptHasCandidate()) run("apt-get", ["update"]);
  run("apt-get", ["install", "-y", "nats-server"]);
  const found = findNatsServer();
  if (found) {
    console.error(`ensure-nats-server: installed ${found}`);
    process.exit(0);
  }
  console.error(`ensure-nats-server: apt-get succeeded but nats-server is still missing.\n${INSTALL_HINT}`);
  process.exit(1);
}

console.error(
  [
    INSTALL_HINT,
    "  Debian/Ubuntu: sudo apt-get install -y nats-server",
    "  macOS:         brew install nats-server",
    "  Other:         download a release from https://github.com/nats-io/nats-server/releases",
    `                 and put it on PATH or set ${ENV_VAR}=/path/to/nats-server`,
  ].join("\n"),
);
process.exit(1);
