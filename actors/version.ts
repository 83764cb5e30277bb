/** The agent's own version, read once from package.json next to the compiled code. */
import { readFileSync } from 'node:fs';

function readVersion(): string {
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

/** `agent_version` in heartbeats and obs events. */
export const AGENT_VERSION = readVersion();
