/**
 * The `updater` machine (issue #11) with fakes and the simulated clock: every transition of the
 * update region, the jitter bounds, cancellation on a target change, the §4 store wait and the
 * failure backoff, parking (loop guard, invalid label, three failed verifications), the idle wait
 * and its 10 min cap, the exit request, shutdown, and the 30 s boot confirmation.
 */
import { describe, expect, it } from 'vitest';
import { BOOT_CONFIRM_MS, IDLE_WAIT_CAP_MS, jitterDelayMs, nextRandom, retryDelayMs } from '../../machines/updater-rules.js';
import { flush, startUpdater } from './updater-harness.js';

/** Drives a harness from a fresh target to `awaitingIdle` (download and verification succeed). */
async function toAwaitingIdle(h: ReturnType<typeof startUpdater>, target = '2.0.0'): Promise<void> {
  h.setTarget(target, 0);
  await flush();
  h.download({ type: 'download.finished', bytes: 10, digest: 'SHA-256=x' });
  await flush();
  expect(h.update()).toBe('awaitingIdle');
}

describe('updater machine: evaluating', () => {
  it('loads, then stays idle without a target or with the running version', async () => {
    const h = startUpdater();
    await flush();
    expect(h.update()).toBe('idle');
    expect(h.status().self_update).toBe('enabled');
    expect(h.actor.getSnapshot().hasTag('healthy')).toBe(true);
    h.setTarget('1.0.0');
    await flush();
    expect(h.update()).toBe('idle');
    expect(h.downloads).toHaveLength(0);
  });

  it('is disabled (targets only recorded) when this process cannot update itself', async () => {
    const h = startUpdater({ install: { supported: false, reason: 'not a single executable', quarantined: ['3.0.0'] } });
    await flush();
    expect(h.update()).toBe('disabled');
    h.setTarget('2.0.0');
    await flush();
    expect(h.update()).toBe('disabled');
    expect(h.status()).toMatchObject({
      target: '2.0.0',
      self_update: 'disabled',
      disabled_reason: 'not a single executable',
      quarantined_versions: ['3.0.0'],
    });
    expect(h.downloads).toHaveLength(0);
    expect(h.reports.some((r) => r.msg.includes('self-update is off'))).toBe(true);
  });

  it('does not update to a quarantined target and says why', async () => {
    const h = startUpdater({ install: { supported: true, quarantined: ['3.0.0'], lastSwap: null } });
    h.setTarget('3.0.0');
    await flush();
    expect(h.update()).toBe('idle');
    expect(h.downloads).toHaveLength(0);
    expect(h.reports.some((r) => r.level === 'warn' && r.msg.includes('quarantined'))).toBe(true);
  });

  it('parks on a swap loop (last_swap.json: same target, same running version) with an obs event', async () => {
    const h = startUpdater({ install: { supported: true, quarantined: [], lastSwap: { target: '2.0.0', running_before: '1.0.0' } } });
    h.setTarget('2.0.0');
    await flush();
    expect(h.update()).toBe('parked');
    expect(h.status().parked_reason).toMatch(/swap loop/);
    expect(h.obsKinds()).toEqual(['agent_update_parked']);
    expect(h.actor.getSnapshot().hasTag('degraded')).toBe(true);
    expect(h.downloads).toHaveLength(0);
    // A new target ends the park; the loop record only ever blocked 2.0.0.
    h.setTarget('2.0.1');
    await flush();
    expect(h.update()).toBe('downloading');
    h.setTarget('2.0.0');
    await flush();
    expect(h.update()).toBe('downloading');
  });

  it('parks on a target that is not a safe version label', async () => {
    const h = startUpdater();
    h.setTarget('../../etc/passwd');
    await flush();
    expect(h.update()).toBe('parked');
    expect(h.downloads).toHaveLength(0);
  });
});

describe('updater machine: jitter', () => {
  it('waits the seeded draw in 0..=target_version_jitter before downloading', async () => {
    const seed = 7;
    const jitter = 600_000;
    const expected = jitterDelayMs(jitter, nextRandom(seed).value);
    expect(expected).toBeGreaterThanOrEqual(0);
    expect(expected).toBeLessThanOrEqual(jitter);
    const h = startUpdater({ seed });
    h.setTarget('2.0.0', jitter);
    await flush();
    expect(h.update()).toBe('jitter');
    expect(h.status().wait_ms).toBe(expected);
    h.clock.increment(expected - 1);
    await flush();
    expect(h.downloads).toHaveLength(0);
    h.clock.increment(1);
    await flush();
    expect(h.update()).toBe('downloading');
    expect(h.downloads.map((d) => d.target)).toEqual(['2.0.0']);
    expect(h.obsKinds()).toEqual(['agent_update_started']);
  });

  it('downloads at once with a 0 s jitter', async () => {
    const h = startUpdater();
    h.setTarget('2.0.0', 0);
    await flush();
    expect(h.update()).toBe('downloading');
  });

  it('a jitter change alone does not restart the wait', async () => {
    const h = startUpdater({ seed: 3 });
    h.setTarget('2.0.0', 60_000);
    await flush();
    const wait = h.status().wait_ms!;
    h.clock.increment(Math.floor(wait / 2));
    h.setTarget('2.0.0', 120_000);
    await flush();
    expect(h.status().jitter_max_ms).toBe(120_000);
    h.clock.increment(wait - Math.floor(wait / 2));
    await flush();
    expect(h.update()).toBe('downloading');
  });
});

describe('updater machine: download', () => {
  it('a target change cancels the download and starts over for the new target', async () => {
    const h = startUpdater();
    h.setTarget('2.0.0');
    await flush();
    h.download({ type: 'download.progressed', bytes: 1_048_576, total: 4_194_304 });
    await flush();
    expect(h.status()).toMatchObject({ bytes_done: 1_048_576, bytes_total: 4_194_304 });
    h.setTarget('2.1.0');
    await flush();
    expect(h.cancelledDownloads()).toBe(1);
    expect(h.downloads.map((d) => d.target)).toEqual(['2.0.0', '2.1.0']);
    expect(h.status()).toMatchObject({ target: '2.1.0', bytes_done: 0, bytes_total: null });
    // Back to no target: the second download is cancelled too, and nothing runs.
    h.setTarget(null);
    await flush();
    expect(h.cancelledDownloads()).toBe(2);
    expect(h.update()).toBe('idle');
  });

  it('waits for an absent store with the §4 backoff, and retries at once on reconnect', async () => {
    const h = startUpdater({ seed: 11 });
    h.setTarget('2.0.0');
    await flush();
    h.download({ type: 'download.failed', kind: 'absent', reason: 'object 2.0.0-linux-x86_64 is not in agent_releases' });
    await flush();
    expect(h.update()).toBe('awaitingStore');
    const first = h.status().wait_ms!;
    expect(first).toBeGreaterThanOrEqual(750);
    expect(first).toBeLessThanOrEqual(1_250);
    h.clock.increment(first);
    await flush();
    expect(h.downloads).toHaveLength(2);
    h.download({ type: 'download.failed', kind: 'absent', reason: 'still absent' });
    await flush();
    const second = h.status().wait_ms!;
    expect(second).toBeGreaterThanOrEqual(1_500);
    expect(second).toBeLessThanOrEqual(2_500);
    // An absent store is a wait, not a failure: no failed event, no failure count.
    expect(h.obsKinds()).toEqual(['agent_update_started']);
    expect(h.status().failures).toBe(0);
    h.t.broker.disconnected();
    h.t.broker.connected({} as never);
    await flush();
    expect(h.downloads).toHaveLength(3);
  });

  it('backs off after a failure, reports each distinct reason once, and tries again', async () => {
    const h = startUpdater({ seed: 5 });
    h.setTarget('2.0.0');
    await flush();
    h.download({ type: 'download.failed', kind: 'error', reason: 'not enough free space' });
    await flush();
    expect(h.update()).toBe('backoff');
    const wait = h.status().wait_ms!;
    // The jitter drew the first value of the seeded sequence, the backoff the second.
    expect(wait).toBe(retryDelayMs(0, nextRandom(nextRandom(5).seed).value));
    expect(h.status()).toMatchObject({ failures: 1, last_error: 'download: not enough free space' });
    h.clock.increment(wait);
    await flush();
    expect(h.update()).toBe('downloading');
    h.download({ type: 'download.failed', kind: 'error', reason: 'not enough free space' });
    await flush();
    expect(h.status().wait_ms).toBeGreaterThanOrEqual(1_500);
    expect(h.obsKinds().filter((k) => k === 'agent_update_failed')).toHaveLength(1);
  });

  it('three failed verifications of one target park it; digest mismatches count', async () => {
    const h = startUpdater();
    h.verifyOutcomes.push({ ok: false, reason: '--version printed "kanade-agent 1.0.0"' }, { ok: false, reason: 'SHA-256 mismatch' });
    h.setTarget('2.0.0');
    await flush();
    h.download({ type: 'download.failed', kind: 'digest_mismatch', reason: 'SHA-256 does not match' });
    await flush();
    expect(h.update()).toBe('backoff');
    for (let i = 0; i < 2; i += 1) {
      h.clock.increment(h.status().wait_ms!);
      await flush();
      h.download({ type: 'download.finished', bytes: 10, digest: 'SHA-256=x' });
      await flush();
    }
    expect(h.verifications).toHaveLength(2);
    expect(h.update()).toBe('parked');
    expect(h.status()).toMatchObject({ verification_failures: 3, parked_reason: '3 failed verifications of 2.0.0' });
    expect(h.obsKinds()).toEqual([
      'agent_update_started',
      'agent_update_failed',
      'agent_update_failed',
      'agent_update_failed',
      'agent_update_parked',
    ]);
    // Parked: time passing or the same target again does nothing.
    h.clock.increment(3_600_000);
    h.setTarget('2.0.0', 5);
    await flush();
    expect(h.update()).toBe('parked');
    expect(h.downloads).toHaveLength(3);
    // A new target starts afresh.
    h.setTarget('2.0.1', 0);
    await flush();
    expect(h.update()).toBe('downloading');
    expect(h.status().verification_failures).toBe(0);
  });
});

describe('updater machine: swap and exit', () => {
  it('swaps only with the boot confirmed and no command running, then asks the root to exit 64', async () => {
    const h = startUpdater();
    await toAwaitingIdle(h);
    expect(h.obsKinds()).toEqual(['agent_update_started', 'agent_update_verified']);
    h.idle({ type: 'commands.drained' });
    await flush();
    expect(h.update()).toBe('awaitingIdle'); // boot not confirmed yet: no last-good copy to fall back to
    h.clock.increment(BOOT_CONFIRM_MS);
    await flush();
    expect(h.boot()).toBe('confirmed');
    h.idle({ type: 'commands.counted', running: 2 });
    await flush();
    expect(h.status().running_commands).toBe(2);
    expect(h.swaps).toHaveLength(0);
    h.idle({ type: 'commands.drained' });
    await flush();
    expect(h.swaps.map((s) => s.target)).toEqual(['2.0.0']);
    expect(h.update()).toBe('exiting');
    expect(h.exits).toHaveLength(1);
    expect(h.obsKinds()).toContain('agent_update_swapped');
    // The root answers with shutdown; a target change meanwhile changes nothing.
    h.setTarget('9.9.9');
    await flush();
    expect(h.update()).toBe('exiting');
    h.actor.send({ type: 'shutdown' });
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('swaps anyway after 10 min of running commands', async () => {
    const h = startUpdater();
    h.clock.increment(BOOT_CONFIRM_MS);
    await flush();
    await toAwaitingIdle(h);
    h.idle({ type: 'commands.counted', running: 1 });
    h.clock.increment(IDLE_WAIT_CAP_MS - 1);
    await flush();
    expect(h.swaps).toHaveLength(0);
    h.clock.increment(1);
    await flush();
    expect(h.swaps).toHaveLength(1);
    expect(h.reports.some((r) => r.level === 'warn' && r.msg.includes('swapping anyway'))).toBe(true);
  });

  it('a failed swap backs off and downloads again', async () => {
    const h = startUpdater();
    h.clock.increment(BOOT_CONFIRM_MS);
    await flush();
    h.swapOutcomes.push({ ok: false, reason: 'swap failed and was undone: EACCES' });
    await toAwaitingIdle(h);
    h.idle({ type: 'commands.drained' });
    await flush();
    expect(h.update()).toBe('backoff');
    expect(h.status().last_error).toBe('swap: swap failed and was undone: EACCES');
    expect(h.exits).toHaveLength(0);
    h.clock.increment(h.status().wait_ms!);
    await flush();
    expect(h.update()).toBe('downloading');
  });

  it('shutdown cancels a download and ends the machine', async () => {
    const h = startUpdater();
    h.setTarget('2.0.0');
    await flush();
    h.actor.send({ type: 'shutdown' });
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.cancelledDownloads()).toBe(1);
  });
});

describe('updater machine: boot confirmation', () => {
  it('confirms after 30 s with the tree up, broker or not', async () => {
    const h = startUpdater({ connected: false });
    h.clock.increment(BOOT_CONFIRM_MS - 1);
    await flush();
    expect(h.confirms()).toBe(0);
    expect(h.status().boot).toBe('unconfirmed');
    h.clock.increment(1);
    await flush();
    expect(h.confirms()).toBe(1);
    expect(h.status().boot).toBe('confirmed');
  });
});
