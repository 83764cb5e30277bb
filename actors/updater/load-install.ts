/**
 * The `loadInstall` effect: whether this process can update itself (a single executable on a
 * platform with an `agent_releases` key), the quarantine list, and `last_swap.json` — cleared and
 * reported when it shows that the swap which started this process succeeded.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fromPromise } from 'xstate';
import { agentReleaseKey } from '../../contract/index.js';
import { readLastSwap, readQuarantine } from './install-state.js';
import { LAST_SWAP_FILE } from './updater-files.js';
import type { InstallState, UpdaterPorts } from './updater-types.js';

/** Reads the persisted state; never rejects (unreadable files are logged and read as absent). */
export async function loadInstallState(ports: UpdaterPorts, runningVersion: string): Promise<InstallState> {
  const quarantine = await readQuarantine(ports.dataDir);
  if (quarantine.problem !== null) ports.log.warn({ child: 'updater' }, quarantine.problem);
  if (ports.exe === null) {
    return {
      supported: false,
      reason: 'not running as a single executable (started through node); self-update needs the release build',
      quarantined: quarantine.value,
    };
  }
  if (agentReleaseKey('0', ports.platform, ports.arch) === undefined) {
    return { supported: false, reason: `no agent_releases key for ${ports.platform}-${ports.arch} (§4)`, quarantined: quarantine.value };
  }
  const lastSwap = await readLastSwap(ports.dataDir);
  if (lastSwap.problem !== null) ports.log.warn({ child: 'updater' }, lastSwap.problem);
  const swap = lastSwap.value;
  if (swap !== null && swap.target === runningVersion && swap.running_before !== runningVersion) {
    // The swap that started this process worked: the loop guard has nothing left to guard.
    await rm(path.join(ports.dataDir, LAST_SWAP_FILE), { force: true }).catch(() => undefined);
    ports.log.info(
      { child: 'updater', from: swap.running_before, to: runningVersion },
      `running ${runningVersion} after the swap from ${swap.running_before}`,
    );
    return { supported: true, quarantined: quarantine.value, lastSwap: null };
  }
  return { supported: true, quarantined: quarantine.value, lastSwap: swap };
}

/** The `loadInstall` effect. */
export const loadInstall = fromPromise<InstallState, { readonly ports: UpdaterPorts; readonly runningVersion: string }>(({ input }) =>
  loadInstallState(input.ports, input.runningVersion),
);
