/**
 * Self-update end to end (issue #11): three single executables built once from this code as
 * 9.0.1, 9.0.2 and 9.0.3 (`buildRelease`, linux-x64), a real broker, and the restart-on-failure
 * stand-in for systemd. One agent goes through, in order:
 *
 * 1. `target_version` 9.0.2, jitter 0 s → the heartbeat reports 9.0.2; no 9.0.1 file is left
 *    next to the executable.
 * 2. 9.0.4 holds 9.0.1's bytes (digest fine) → the `--version` check refuses it: no swap, obs event.
 * 3. 9.0.5 holds 9.0.2's bytes with a wrong digest → no swap, obs event.
 * 4. 9.0.3 exits 1 at boot (failpoint `agent.boot@9.0.3=exit`) → after 3 boots 9.0.2 is back,
 *    `quarantined_versions` = ["9.0.3"], and 9.0.3 is not downloaded again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHeartbeat, decodeObsEvent, subjects, type Heartbeat, type ObsEvent } from '../../contract/index.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil } from '../harness/poll.js';
import { agentDir, readStatus, type AgentDir } from '../process/agent-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESTART = path.join(ROOT, 'spec', 'harness', 'restart-on-failure.mjs');
const PC = 'PC-self-update';
const [V1, V2, V3] = ['9.0.1', '9.0.2', '9.0.3'];
const KEY = (v: string) => `${v}-linux-x86_64`;
/** One build per version; on this loaded 2-core machine a build takes about a minute. */
const BUILD_TIMEOUT_MS = 15 * 60_000;
const STEP_TIMEOUT_MS = 180_000;

interface BuiltRelease {
  readonly files: Array<{ file: string; key: string }>;
  readonly dir: string;
}

describe('self-update end to end (release executables, real broker, restart stand-in)', () => {
  let broker: Broker;
  let dir: AgentDir;
  let work: string;
  let exe: string;
  const builds = new Map<string, string>();
  let service: ChildProcess | undefined;
  const beats: Heartbeat[] = [];
  const events: ObsEvent[] = [];
  let serviceLog = '';
  /** The agent's own log (stdout), for a failure's message. */
  let agentLog = '';
  /** A failed wait says where the updater stood: its status row and the logs' tails. */
  const explained = async <T>(wait: Promise<T>): Promise<T> =>
    wait.catch(async (error: unknown) => {
      const report = await readStatus(dir.socket).catch(() => null);
      const updater = report?.children.find((c) => c.id === 'updater');
      throw new Error(
        `${(error as Error).message}\nupdater: ${JSON.stringify(updater)}\nstand-in:\n${serviceLog.slice(-4_000)}\nagent:\n${agentLog.slice(-12_000)}`,
      );
    });

  const publish = async (key: string, file: string): Promise<void> => {
    const store = await broker.objm.open('agent_releases');
    await store.putBlob({ name: key }, new Uint8Array(await readFile(file)));
  };
  const setTarget = async (target: string): Promise<void> => {
    const kv = await broker.kvm.open('agent_config');
    await kv.put('global', JSON.stringify({ heartbeat_interval: '1s', target_version: target, target_version_jitter: '0s' }));
  };
  const lastBeat = () => beats.at(-1);
  /** Exit codes from the restart stand-in's `{"event":"exited",…}` lines, in order (its stderr also carries the agent's log). */
  const exits: Array<number | null> = [];
  let partialLine = '';
  const takeServiceOutput = (chunk: Buffer): void => {
    const lines = (partialLine + chunk.toString('utf8')).split('\n');
    partialLine = lines.pop()!;
    for (const line of lines) if (line.startsWith('{"event":"exited"')) exits.push((JSON.parse(line) as { code: number | null }).code);
    serviceLog = (serviceLog + lines.map((line) => `${line}\n`).join('')).slice(-200_000);
  };
  const exitCodes = () => [...exits];
  const updateEvents = (kind: string, to?: string) =>
    events.filter((e) => e.kind === kind && (to === undefined || (e.payload as { to?: string } | undefined)?.to === to));

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'kanade-self-update-'));
    // scripts/release.mjs is plain ESM without types.
    const { buildRelease } = (await import(path.join(ROOT, 'scripts', 'release.mjs'))) as {
      buildRelease(opts: { version: string; targets: string[]; outDir: string; log?: (line: string) => void }): Promise<BuiltRelease>;
    };
    for (const version of [V1, V2, V3]) {
      const built = await buildRelease({
        version,
        targets: ['linux-x64'],
        outDir: path.join(work, 'release', version),
        log: () => undefined,
      });
      builds.set(version, path.join(built.dir, built.files[0]!.file));
    }
    broker = await startBroker();
    dir = await agentDir([broker.url], PC);
    exe = path.join(work, 'bin', 'kanade-agent');
    await mkdir(path.dirname(exe), { recursive: true });
    await copyFile(builds.get(V1)!, exe);
    broker.nc.subscribe(subjects.heartbeat(PC), {
      callback: (_e, msg) => {
        const beat = decodeHeartbeat(msg.data);
        if (beat.ok) beats.push(beat.value);
      },
    });
    broker.nc.subscribe(subjects.obs(PC), {
      callback: (_e, msg) => {
        const event = decodeObsEvent(msg.data);
        if (event.ok) events.push(event.value);
      },
    });
    await broker.nc.flush();
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    if (service !== undefined && service.exitCode === null) {
      service.kill('SIGTERM');
      await new Promise((resolve) => service!.once('exit', resolve));
    }
    await broker?.stop();
    await dir?.remove();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it(
    'moves to the target version: heartbeat reports it, the old executable is gone',
    async () => {
      for (const v of [V2, V3]) await publish(KEY(v), builds.get(v)!);
      await setTarget(V2);
      await writeFile(path.join(work, 'agent.env'), '');
      service = spawn(
        process.execPath,
        [
          RESTART,
          '--max-starts',
          '12',
          '--env',
          'KANADE_FAILPOINTS=agent.boot@9.0.3=exit',
          '--env',
          'KANADE_AGENT_DATA_DIR=',
          '--',
          exe,
          'run',
          '--config',
          dir.configPath,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      service.stderr!.on('data', takeServiceOutput);
      service.stdout!.on('data', (chunk: Buffer) => (agentLog = (agentLog + chunk.toString('utf8')).slice(-100_000)));
      await pollUntil(`a heartbeat from ${V2}`, STEP_TIMEOUT_MS, () => lastBeat()?.agent_version === V2, 250);
      expect(await readdir(path.dirname(exe))).toEqual(['kanade-agent']);
      // The obs events travel through the obs outbox: the new version's first heartbeat can overtake them.
      await pollUntil('agent_update_swapped', 30_000, () => updateEvents('agent_update_swapped', V2).length > 0);
      expect(updateEvents('agent_update_swapped', V2)).toHaveLength(1);
      expect(updateEvents('agent_update_verified', V2)).toHaveLength(1);
      // The restart stand-in saw the 64.
      expect(exitCodes()).toEqual([64]);
    },
    STEP_TIMEOUT_MS + 30_000,
  );

  it('refuses a release whose --version is another version, and one with a wrong digest', async () => {
    await publish(KEY('9.0.4'), builds.get(V1)!);
    await setTarget('9.0.4');
    const refused = await pollUntil('the --version refusal', 60_000, () => updateEvents('agent_update_failed', '9.0.4')[0]);
    expect(String((refused.payload as { error?: string }).error)).toMatch(/--version printed "kanade-agent 9\.0\.1"/);

    // 9.0.5: 9.0.2's bytes under a digest that is not theirs (the meta message rewritten).
    await publish(KEY('9.0.5'), builds.get(V2)!);
    const metaSubject = `$O.agent_releases.M.${Buffer.from(KEY('9.0.5')).toString('base64url')}`;
    const meta = await broker.jsm.streams.getMessage('OBJ_agent_releases', { last_by_subj: metaSubject });
    const info = JSON.parse(new TextDecoder().decode(meta!.data)) as { digest: string };
    info.digest = `SHA-256=${Buffer.alloc(32, 7).toString('base64url')}=`;
    const h = headers();
    h.set('Nats-Rollup', 'sub');
    await broker.js.publish(metaSubject, JSON.stringify(info), { headers: h });
    await setTarget('9.0.5');
    const digest = await pollUntil('the digest refusal', 60_000, () => updateEvents('agent_update_failed', '9.0.5')[0]);
    expect(String((digest.payload as { error?: string }).error)).toMatch(/SHA-256/);
    expect(lastBeat()?.agent_version).toBe(V2);
    expect(updateEvents('agent_update_swapped', '9.0.4').length + updateEvents('agent_update_swapped', '9.0.5').length).toBe(0);
  }, 150_000);

  it(
    'rolls a release that fails at boot back after 3 boots and quarantines it',
    async () => {
      // 9.0.2 must have confirmed its boot (30 s) before it swaps: it then is the last-good copy.
      await setTarget(V3);
      await explained(pollUntil(`the swap to ${V3}`, STEP_TIMEOUT_MS, () => updateEvents('agent_update_swapped', V3).length > 0, 250));
      await explained(
        pollUntil(
          `${V2} back with ${V3} quarantined`,
          STEP_TIMEOUT_MS,
          () => {
            const beat = lastBeat();
            return beat?.agent_version === V2 && beat.quarantined_versions?.includes(V3) === true;
          },
          250,
        ),
      );
      expect(lastBeat()?.quarantined_versions).toEqual([V3]);
      const rolledBack = await pollUntil('agent_update_rolled_back', 30_000, () => updateEvents('agent_update_rolled_back', V2)[0]);
      expect(rolledBack.payload).toMatchObject({ from: V3, to: V2, unconfirmed_boots: 3 });
      // The stand-in's own exit events (the agent's log lines share its stderr): 9.0.1 and 9.0.2 exited
      // 64 to swap, three boots of 9.0.3 exited 1 (the failpoint), the fourth start restored 9.0.2 (64).
      expect(exitCodes(), serviceLog.slice(-20_000)).toEqual([64, 64, 1, 1, 1, 64]);
      // 9.0.3 is not downloaded again: a few more heartbeats, no new start of an update to it.
      const beatsNow = beats.length;
      await pollUntil('three more heartbeats', 20_000, () => beats.length >= beatsNow + 3);
      expect(updateEvents('agent_update_started', V3)).toHaveLength(1);
      expect(await readdir(path.dirname(exe))).toEqual(['kanade-agent']);
    },
    2 * STEP_TIMEOUT_MS + 30_000,
  );
});
