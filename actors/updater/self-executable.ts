/**
 * The running executable when the agent is a Node single executable application (the release
 * build), else null: under `node dist/bin/kanade-agent.js` the "executable" is Node itself, which
 * the updater must never replace.
 */
import { isSingleExecutable } from '../self-command.js';
import path from 'node:path';
import type { SelfExecutable } from './updater-types.js';

/** `process.execPath` of a single executable, with its stem (`kanade-agent` for `kanade-agent.exe`). */
export function selfExecutable(): SelfExecutable | null {
  if (!isSingleExecutable()) return null;
  return describeExecutable(process.execPath);
}

/** The {@link SelfExecutable} of a path (tests use stand-in executables). */
export function describeExecutable(file: string): SelfExecutable {
  const name = path.basename(file);
  return { path: file, stem: name.toLowerCase().endsWith('.exe') ? name.slice(0, -4) : name };
}
