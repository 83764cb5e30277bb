/**
 * Stand-in executables for swap and boot tests: tiny shell scripts that answer `--version` with
 * `kanade-agent <V>`, as the real release does (§10), so a test can tell which one is installed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';

/** Writes a stand-in for `version` at `file` (0755). */
export function writeStandIn(file: string, version: string): void {
  writeFileSync(file, `#!/bin/sh\n# stand-in kanade-agent ${version}\necho "kanade-agent ${version}"\n`);
  chmodSync(file, 0o755);
}

/** What `<file> --version` prints, trimmed; throws when it cannot run (missing or half-written). */
export function versionOf(file: string): string {
  return execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim();
}
