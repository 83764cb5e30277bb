/**
 * The boot sentinel (§10 step 6), run by `run` before the supervisor starts, and the confirmation
 * the `updater` child performs once the tree has been up for 30 s.
 *
 * At every start of a single executable: delete stale `<exe>.old`/`<exe>.new` and `staging/`,
 * then count this boot in `boot_sentinel.json`. When {@link MAX_UNCONFIRMED_BOOTS} earlier boots
 * of this version were never confirmed and `last_good/` holds another version: quarantine this
 * version, swap the last-good copy back in and tell `run` to exit 64 (the service manager starts
 * the restored version). Without a last-good copy of another version nothing can be restored: the
 * boot goes on and is logged.
 *
 * @example
 * const boot = checkBoot({ dataDir, exe: selfExecutable(), version: AGENT_VERSION, log, failpoints });
 * if (boot.kind === 'rolled_back') return PROCESS_EXIT_SELF_UPDATE;
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { fromPromise } from 'xstate';
import type { Failpoints } from '../failpoints.js';
import { createOutboxes } from '../outbox/create-outboxes.js';
import { sendReport } from './report.js';
import {
  copyDurable,
  readBootSentinelSync,
  readLastGood,
  readLastGoodSync,
  readQuarantine,
  readQuarantineSync,
  writeBootSentinel,
  writeBootSentinelSync,
  writeLastGoodMeta,
  writeQuarantine,
  writeQuarantineSync,
} from './install-state.js';
import { replaceExecutableSync } from './swap-executable.js';
import { syncDirectory } from '../durable-fs.js';
import { LAST_GOOD_DIR, LAST_SWAP_FILE, PRIVATE_DIR_MODE, STAGING_DIR, swapPaths } from './updater-files.js';
import type { SelfExecutable, UpdaterPorts } from './updater-types.js';

/** Unconfirmed boots of one version that trigger the rollback at the next start (§10: "at 3"). */
export const MAX_UNCONFIRMED_BOOTS = 3;

/** What the boot check decided. */
export type BootDecision =
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'proceed'; readonly unconfirmedBoots: number }
  | { readonly kind: 'rolled_back'; readonly from: string; readonly to: string; readonly unconfirmedBoots: number };

/** Inputs of {@link checkBoot}. */
export interface CheckBootOptions {
  readonly dataDir: string;
  readonly exe: SelfExecutable | null;
  readonly version: string;
  readonly log: Logger;
  readonly failpoints: Failpoints;
}

function removeStale(file: string, log: Logger): void {
  try {
    if (!existsSync(file)) return;
    rmSync(file, { recursive: true, force: true });
    log.info({ file }, 'removed a stale self-update file');
  } catch (error) {
    log.warn({ file, err: (error as Error).message }, 'cannot remove a stale self-update file');
  }
}

/** The boot check; synchronous so nothing else runs before it. Never throws. */
export function checkBoot(opts: CheckBootOptions): BootDecision {
  const { dataDir, exe, version, log } = opts;
  if (exe === null) return { kind: 'skipped', reason: 'not a single executable' };
  const { next, old } = swapPaths(exe.path);
  removeStale(next, log);
  removeStale(old, log);
  removeStale(path.join(dataDir, STAGING_DIR), log);

  const sentinel = readBootSentinelSync(dataDir);
  if (sentinel.problem !== null) log.warn(sentinel.problem);
  const prior = sentinel.value?.version === version ? sentinel.value.unconfirmed_boots : 0;

  if (prior >= MAX_UNCONFIRMED_BOOTS) {
    const lastGood = readLastGoodSync(dataDir);
    if (lastGood.problem !== null) log.warn(lastGood.problem);
    const copy = lastGood.value === null ? null : path.join(dataDir, LAST_GOOD_DIR, lastGood.value.file);
    if (lastGood.value !== null && copy !== null && lastGood.value.version !== version && existsSync(copy)) {
      const restored = lastGood.value.version;
      try {
        const quarantine = readQuarantineSync(dataDir);
        writeQuarantineSync(dataDir, [...quarantine.value.filter((v) => v !== version), version]);
        replaceExecutableSync({
          exe: exe.path,
          source: copy,
          failpoints: opts.failpoints,
          record: () => {
            // The swap that brought this version in is over; its loop record would only confuse the next boot.
            rmSync(path.join(dataDir, LAST_SWAP_FILE), { force: true });
            writeBootSentinelSync(dataDir, { version: restored, unconfirmed_boots: 0 });
          },
        });
        log.error(
          { from: version, to: restored, unconfirmed_boots: prior },
          `version ${version} failed to boot ${prior} times; quarantined it and restored ${restored} from last_good/ — exiting 64 so the service manager starts ${restored}`,
        );
        return { kind: 'rolled_back', from: version, to: restored, unconfirmedBoots: prior };
      } catch (error) {
        log.error(
          { from: version, to: restored, err: (error as Error).message },
          'boot rollback failed (undone); booting this version anyway',
        );
      }
    } else {
      log.error(
        { version, unconfirmed_boots: prior, last_good: lastGood.value?.version ?? null },
        `version ${version} has ${prior} unconfirmed boots but last_good/ holds no other version to roll back to; booting anyway`,
      );
    }
  }

  const unconfirmedBoots = prior + 1;
  try {
    writeBootSentinelSync(dataDir, { version, unconfirmed_boots: unconfirmedBoots });
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'cannot write boot_sentinel.json; this boot is not counted');
  }
  return { kind: 'proceed', unconfirmedBoots };
}

/**
 * Confirms this boot: the count goes to 0, this version leaves the quarantine (it just proved it
 * boots here), and the running executable becomes the last-good copy unless it already is.
 */
export async function confirmBootOn(ports: Pick<UpdaterPorts, 'dataDir' | 'exe' | 'log'>, version: string): Promise<void> {
  const { dataDir, exe, log } = ports;
  if (exe === null) return;
  await writeBootSentinel(dataDir, { version, unconfirmed_boots: 0 });
  const quarantine = await readQuarantine(dataDir);
  if (quarantine.value.includes(version)) {
    await writeQuarantine(
      dataDir,
      quarantine.value.filter((v) => v !== version),
    );
    log.info({ version }, `version ${version} booted healthy here; removed from the quarantine`);
  }
  const lastGood = await readLastGood(dataDir);
  const name = path.basename(exe.path);
  const dir = path.join(dataDir, LAST_GOOD_DIR);
  if (lastGood.value?.version === version && lastGood.value.file === name && existsSync(path.join(dir, name))) return;
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = path.join(dir, `${name}.tmp`);
  await copyDurable(exe.path, tmp, 0o700);
  await rename(tmp, path.join(dir, name));
  await syncDirectory(dir);
  await writeLastGoodMeta(dataDir, { version, file: name });
  if (lastGood.value !== null && lastGood.value.file !== name) await rm(path.join(dir, lastGood.value.file), { force: true });
  log.info({ version }, `boot confirmed healthy; ${version} is the last-good copy for rollback`);
}

/** The `confirmBoot` effect. */
export const confirmBoot = fromPromise<void, { readonly ports: UpdaterPorts; readonly version: string }>(({ input }) =>
  confirmBootOn(input.ports, input.version),
);

/** Thrown by `startAgent` when the boot sentinel restored the last-good executable: `run` exits 64. */
export class BootRolledBack extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`rolled back from ${from} to ${to}`);
    this.name = 'BootRolledBack';
  }
}

/** Queues `agent_update_rolled_back` in the obs outbox; the restored version sends it. Never rejects. */
export async function reportRollback(
  where: { readonly dataDir: string; readonly pcId: string; readonly log: Logger },
  boot: Extract<BootDecision, { kind: 'rolled_back' }>,
): Promise<void> {
  const obs = createOutboxes(where.dataDir, where.pcId, where.log).obs;
  await sendReport(
    { log: where.log, obs, pcId: where.pcId },
    {
      level: 'error',
      msg: `rolled back ${boot.from} → ${boot.to} after ${boot.unconfirmedBoots} unconfirmed boots; ${boot.from} is quarantined`,
      fields: { from: boot.from, to: boot.to, unconfirmed_boots: boot.unconfirmedBoots },
      obs: {
        kind: 'agent_update_rolled_back',
        payload: { from: boot.from, to: boot.to, unconfirmed_boots: boot.unconfirmedBoots, quarantined: boot.from },
      },
    },
  );
}
