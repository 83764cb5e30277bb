/**
 * `npm run release` for linux-x64 (issue 10): the executable built by scripts/release.mjs as an
 * unreleased version, its `--version`, manifest and SHA256SUMS, the service-manager start shapes
 * (no arguments; only `--config FILE`) reaching a real broker, and `release publish` into
 * `agent_releases` checked against SHA256SUMS.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelease, type ReleaseManifest } from '../../scripts/release.mjs';
import { decodeHeartbeat, OBJ_AGENT_RELEASES, subjects, type Heartbeat } from '../../contract/index.js';
import { runCli } from '../cli/run-cli.js';
import { exeBinary, type AgentBinary } from '../harness/agent-binary.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil } from '../harness/poll.js';
import { agentDir, spawnAgent, waitForStatus, type AgentDir } from '../process/agent-process.js';

/** A version package.json does not have: proves the version is fixed at build time. */
const VERSION = '9.9.1-spec.1';
/** Bundling + postject of a 100 MB binary on a loaded 2-core machine. */
const BUILD_TIMEOUT_MS = 300_000;

let broker: Broker;
let outDir: string;
let manifest: ReleaseManifest;
let exe: AgentBinary;
const dirs: AgentDir[] = [];

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'kanade-release-spec-'));
  [broker, manifest] = await Promise.all([
    startBroker(),
    buildRelease({ version: VERSION, targets: ['linux-x64'], outDir, log: () => {} }),
  ]);
  exe = exeBinary(join(outDir, manifest.files[0]!.file));
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await broker?.stop();
  await Promise.all(dirs.map((d) => d.remove()));
  await rm(outDir, { recursive: true, force: true });
});

/** Starts the executable with `args` and `env`, waits for its first heartbeat, then SIGTERM → 0. */
async function heartbeatThenStop(pc: string, args: (dir: AgentDir) => string[], env: (dir: AgentDir) => Record<string, string>) {
  const dir = await agentDir([broker.url], pc);
  dirs.push(dir);
  const beats: Heartbeat[] = [];
  const sub = broker.nc.subscribe(subjects.heartbeat(pc), {
    callback: (_err, msg) => {
      const hb = decodeHeartbeat(msg.data);
      if (hb.ok) beats.push(hb.value);
    },
  });
  await broker.nc.flush();
  const agent = spawnAgent(dir, env(dir), { args: args(dir), binary: exe });
  try {
    await pollUntil('first heartbeat from the executable', 30_000, () => beats.length >= 1);
    const report = await waitForStatus(dir.socket, 'status over the control socket', (r) => r.connection.connected);
    agent.kill('SIGTERM');
    const exit = await agent.exited;
    return { beat: beats[0]!, report, exit };
  } finally {
    sub.unsubscribe();
    agent.kill('SIGKILL');
  }
}

describe('npm run release --targets linux-x64', () => {
  it('writes the executable under its agent_releases key with a matching manifest and SHA256SUMS', async () => {
    const name = `kanade-agent-${VERSION}-linux-x86_64`;
    expect(manifest).toMatchObject({ name: 'kanade-agent', version: VERSION, node_version: process.versions.node });
    expect(manifest.files).toEqual([expect.objectContaining({ file: name, key: `${VERSION}-linux-x86_64`, target: 'linux-x64', code_cache: true })]);
    const bytes = await readFile(join(outDir, name));
    const digest = createHash('sha256').update(bytes).digest('hex');
    expect(manifest.files[0]).toMatchObject({ size: bytes.length, sha256: digest });
    expect(await readFile(join(outDir, 'SHA256SUMS'), 'utf8')).toBe(`${digest}  ${name}\n`);
    const written = JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')) as ReleaseManifest;
    expect(written).toEqual({ ...manifest, dir: undefined });
  });

  it('--version prints "kanade-agent <V>" with the build-time version; --json adds the build facts', async () => {
    const plain = await runCli(['--version'], process.env, exe);
    expect(plain).toMatchObject({ code: 0, stdout: `kanade-agent ${VERSION}\n`, stderr: '' });
    const short = await runCli(['-V'], process.env, exe);
    expect(short.stdout).toBe(`kanade-agent ${VERSION}\n`);

    const json = await runCli(['--version', '--json'], process.env, exe);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      name: 'kanade-agent',
      version: VERSION,
      commit: manifest.commit,
      built_at: manifest.built_at,
      node_version: process.version,
      platform: 'linux-x64',
      single_executable: true,
      assets: [],
    });
    expect(manifest.built_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('with no arguments runs the agent (config from KANADE_AGENT_CONFIG): heartbeat, status, SIGTERM → 0, no warnings', async () => {
    const { beat, report, exit } = await heartbeatThenStop('PC-rel-noargs', () => [], (dir) => ({ KANADE_AGENT_CONFIG: dir.configPath }));
    expect(beat.agent_version).toBe(VERSION);
    expect(report.children.map((c) => c.id)).toContain('heartbeat');
    expect(exit.code).toBe(0);
    expect(exit.stderr).not.toMatch(/warning/i);
  });

  it('with only --config FILE runs the agent', async () => {
    const { beat, exit } = await heartbeatThenStop('PC-rel-config', (dir) => ['--config', dir.configPath], () => ({}));
    expect(beat).toMatchObject({ pc_id: 'PC-rel-config', agent_version: VERSION });
    expect(exit.code).toBe(0);
  });
});

describe('kanade-agent release publish', () => {
  /** The object store's digest of a hex SHA-256: `SHA-256=` + padded base64url. */
  const digestOf = (hex: string) => `SHA-256=${Buffer.from(hex, 'hex').toString('base64')}`.replace(/\+/g, '-').replace(/\//g, '_');

  it('uploads each executable under its key; size, digest and bytes match SHA256SUMS; a second run changes nothing', async () => {
    const publish = await runCli(['release', 'publish', '--nats', broker.url, '--dir', outDir, '--json'], process.env, exe);
    expect(publish.stderr).toBe('');
    expect(publish.code).toBe(0);
    const [sumHex, sumFile] = (await readFile(join(outDir, 'SHA256SUMS'), 'utf8')).trim().split(/\s+/);
    const key = `${VERSION}-linux-x86_64`;
    expect(sumFile).toBe(`kanade-agent-${key}`);
    expect(publish.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { key, size: manifest.files[0]!.size, digest: digestOf(sumHex!), action: 'uploaded' },
    ]);

    const store = await broker.objm.open(OBJ_AGENT_RELEASES);
    const names = (await store.list()).map((o) => o.name);
    expect(names).toEqual([key]);
    const info = await store.info(key);
    expect(info).toMatchObject({ size: manifest.files[0]!.size, digest: digestOf(sumHex!) });
    const object = await store.get(key);
    const hash = createHash('sha256');
    for await (const chunk of object!.data) hash.update(chunk);
    expect(hash.digest('hex')).toBe(sumHex);

    const again = await runCli(['release', 'publish', '--nats', broker.url, '--dir', outDir], process.env, exe);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^unchanged +${key.replace(/[.+]/g, '\\$&')} `));
  });

  it('refuses a directory whose manifest names a file outside it, before connecting', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'kanade-release-bad-'));
    try {
      await cp(outDir, bad, { recursive: true });
      const written = JSON.parse(await readFile(join(bad, 'manifest.json'), 'utf8')) as ReleaseManifest;
      written.files[0]!.file = '../kanade-agent-x';
      await writeFile(join(bad, 'manifest.json'), JSON.stringify(written));
      const run = await runCli(['release', 'publish', '--nats', 'nats://127.0.0.1:1', '--dir', bad]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('is not a plain kanade-agent-* name');
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});
