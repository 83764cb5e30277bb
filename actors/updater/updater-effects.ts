/**
 * The updater's effects, as `.provide()`d to `updaterMachine` by supervisor/children.ts, and the
 * mapping from AgentServices (plus the root's injected time and randomness) to its input.
 *
 * @example
 * { id: 'updater', logic: updaterMachine.provide({ actors: UPDATER_EFFECTS }), input: updaterInput, restart: 'transient', shutdownMs: 2_000 }
 */
import type { AgentServices } from '../ports.js';
import { watchBroker } from '../kv-config/watch-broker.js';
import { confirmBoot } from './boot-sentinel.js';
import { downloadRelease } from './download-release.js';
import { loadInstall } from './load-install.js';
import { report } from './report.js';
import { selfExecutable } from './self-executable.js';
import { swapExecutable } from './swap-executable.js';
import type { UpdaterInput } from './updater-types.js';
import { verifyRelease } from './verify-release.js';
import { waitForIdle } from './wait-for-idle.js';
import { watchTarget } from './watch-target.js';

/** Every effect the updater machine names, by its `setup` key. */
export const UPDATER_EFFECTS = {
  loadInstall,
  watchTarget,
  watchBroker,
  downloadRelease,
  verifyRelease,
  waitForIdle,
  swapExecutable,
  confirmBoot,
  report,
} as const;

/** What the root injects into a child's input: its clock reading and a random draw in [0, 1). */
export interface Injected {
  readonly now: number;
  readonly random: number;
}

/** AgentServices → the updater's narrow input. */
export function updaterInput(services: AgentServices, injected: Injected): UpdaterInput {
  return {
    ports: {
      log: services.log,
      pcId: services.config.pcId,
      dataDir: services.config.dataDir,
      exe: selfExecutable(),
      platform: process.platform,
      arch: process.arch,
      broker: services.broker,
      effectiveConfig: services.effectiveConfig,
      obs: services.outboxes.obs,
      failpoints: services.failpoints,
    },
    runningVersion: services.agentVersion,
    seed: Math.floor(injected.random * 2 ** 32) >>> 0,
    startedAt: injected.now,
  };
}
