/**
 * The agent's own version and build facts. A release build (scripts/release.mjs) fixes them at
 * build time through esbuild's `define` of `KANADE_BUILD_INFO`; from `dist/` (tsc) the version is
 * read once from package.json next to the compiled code and the rest is marked as a dev build.
 */
import { readFileSync } from 'node:fs';

/** What `kanade-agent --version --json` prints (snake_case, like every JSON the agent writes). */
export interface BuildInfo {
  readonly version: string;
  /** Git commit the build was made from (`unknown` outside a git checkout, `dev` from dist/). */
  readonly commit: string;
  /** ISO-8601 UTC time of the build (`dev` from dist/). */
  readonly built_at: string;
}

/** Replaced by an object literal in release bundles (esbuild `define`); undeclared otherwise. */
declare const KANADE_BUILD_INFO: BuildInfo | undefined;

function readPackageVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kanade-agent' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate: the path differs between dist/ and ts sources
    }
  }
  return '0.0.0-unknown';
}

/** Build facts of this binary: the defined ones in a release, package.json's version otherwise. */
export const BUILD_INFO: BuildInfo =
  typeof KANADE_BUILD_INFO === 'object' && KANADE_BUILD_INFO !== null
    ? KANADE_BUILD_INFO
    : { version: readPackageVersion(), commit: 'dev', built_at: 'dev' };

/** `agent_version` in heartbeats and obs events. */
export const AGENT_VERSION = BUILD_INFO.version;
