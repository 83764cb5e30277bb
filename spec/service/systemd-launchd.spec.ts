/**
 * Issue #12: the generated systemd unit passes `systemd-analyze verify` with empty stderr (it exits
 * 0 even on unknown keys) and, run by the Restart=on-failure stand-in with the unit's own
 * environment, the agent is restarted after exit 64. The launchd plist parses with plistutil and its
 * launcher reads the env file as data.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launcherScript, renderLaunchdPlist } from '../../actors/service/launchd-service.js';
import { renderSystemdUnit } from '../../actors/service/systemd-service.js';
import { decodeHeartbeat, subjects } from '../../contract/index.js';
import { AGENT_BIN } from '../cli/run-cli.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil } from '../harness/poll.js';

const STAND_IN = new URL('../harness/restart-on-failure.mjs', import.meta.url).pathname;
const PC = 'systemd-pc';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-svc-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const nodeAgent = { kind: 'node' as const, node: process.execPath, script: AGENT_BIN };

describe('systemd unit', () => {
  it('passes systemd-analyze verify with empty stderr (and the check can fail)', async () => {
    const unit = join(dir, 'kanade-agent.service');
    await writeFile(unit, renderSystemdUnit(nodeAgent, join(dir, 'agent.toml'), { envFile: join(dir, 'agent.env'), dataDir: dir }));
    const ok = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', cwd: dir });
    expect(ok.error).toBeUndefined();
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    // Control: an unknown key is reported on stderr while the exit code stays 0.
    const bad = join(dir, 'bad.service');
    await writeFile(bad, `${await readFile(unit, 'utf8')}NoSuchKey=1\n`);
    const r = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8', cwd: dir });
    expect(r.stderr).toContain("Unknown key 'NoSuchKey'");
  });

  describe('run by the Restart=on-failure stand-in with the unit environment', () => {
    let broker: Broker;
    beforeAll(async () => {
      broker = await startBroker();
      const kv = await broker.kvm.open('agent_config');
      await kv.put('global', JSON.stringify({ heartbeat_interval: '1s' }));
    });
    afterAll(async () => {
      await broker?.stop();
    });

    it('the agent gets the env file and KANADE_AGENT_DATA_DIR, and exit 64 is restarted', async () => {
      const dataDir = join(dir, 'data');
      await mkdir(dataDir);
      const config = join(dir, 'agent.toml');
      await writeFile(
        config,
        ['[agent]', `id = "${PC}"`, `nats_url = "${broker.url}"`, '[log]', 'level = "info"', 'keep_days = 0', ''].join('\n'),
      );
      const envFile = join(dir, 'agent.env');
      // exit64 at the second tick: after the first beat, as a self-update swap would.
      await writeFile(envFile, 'KANADE_FAILPOINTS=heartbeat.tick=exit64@2\nKANADE_NATS_RECONNECT_WAIT_MS=100\n');
      const unit = join(dir, 'run.service');
      await writeFile(unit, renderSystemdUnit(nodeAgent, config, { envFile, dataDir }));

      const beats: string[] = [];
      const sub = broker.nc.subscribe(subjects.heartbeat(PC), {
        callback: (_e, msg) => {
          const d = decodeHeartbeat(msg.data);
          if (d.ok) beats.push(d.value.at);
        },
      });
      const child = spawn(process.execPath, [STAND_IN, '--unit', unit, '--max-starts', '2'], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        cwd: dir,
      });
      let events = '';
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => (events += c.toString()));
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      sub.unsubscribe();
      const parsed = events
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; code?: number });
      expect(parsed.filter((e) => e.event === 'started')).toHaveLength(2);
      expect(parsed.filter((e) => e.event === 'exited').map((e) => e.code)).toEqual([64, 64]);
      expect(code).toBe(64);
      await pollUntil('both runs beat', 5_000, () => beats.length >= 2, 50);
      // KANADE_AGENT_DATA_DIR from the unit: the control socket went into dataDir.
      expect(out).toContain(join(dataDir, 'agent.sock'));
      expect(existsSync(join(dir, 'data'))).toBe(true);
    });
  });
});

describe('launchd plist', () => {
  it('parses with plistutil and has the keys', async () => {
    const plist = join(dir, 'com.kanade.agent.plist');
    await writeFile(plist, renderLaunchdPlist({ kind: 'exe', path: '/usr/local/bin/kanade-agent' }, '/etc/kanade/agent.toml'));
    const bin = join(dir, 'p.bin');
    expect(spawnSync('plistutil', ['-i', plist, '-f', 'bin', '-o', bin]).status).toBe(0);
    const xml = spawnSync('plistutil', ['-i', bin, '-f', 'xml'], { encoding: 'utf8' }).stdout;
    expect(xml).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>\s*<\/dict>/);
    expect(xml).toMatch(/<key>ThrottleInterval<\/key>\s*<integer>10<\/integer>/);
    expect(xml).toMatch(/<key>RunAtLoad<\/key>\s*<true\/>/);
    expect(xml).toMatch(/<key>KANADE_AGENT_DATA_DIR<\/key>\s*<string>\/var\/lib\/kanade-agent<\/string>/);
    expect(xml).toContain('<string>/bin/sh</string>');
  });

  it('the launcher reads the three keys from the env file as data and execs the agent', async () => {
    const envFile = join(dir, 'launchd.env');
    await writeFile(envFile, 'KANADE_NATS_TOKEN=t0k$(touch pwned)en\nOTHER=x\nKANADE_NATS_USER=\n');
    const r = spawnSync('/bin/sh', ['-c', launcherScript(['/usr/bin/env'], envFile)], {
      encoding: 'utf8',
      cwd: dir,
      env: { PATH: process.env.PATH },
    });
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('KANADE_NATS_TOKEN=t0k$(touch pwned)en');
    expect(lines.some((l) => l.startsWith('OTHER=') || l.startsWith('KANADE_NATS_USER='))).toBe(false);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });
});
