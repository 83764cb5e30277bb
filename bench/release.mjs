#!/usr/bin/env node
/**
 * Bench for issue 10 (docs/PERFORMANCE.md, "Single executables"): the size of each release
 * executable (raw and gzip), and — side by side in one run, interleaved — `--version` time and
 * start → first heartbeat of the linux-x64 executable with and without the SEA code cache, against
 * `node dist/bin/kanade-agent.js`. Medians over RUNS rounds (VERSION_RUNS for --version).
 *
 * Needs `npx tsc -p tsconfig.json` first. Run: node bench/release.mjs
 * Env: RUNS (default 9), VERSION_RUNS (default 15), TARGETS (default all three, for the size table).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { connect } from '@nats-io/transport-node';
import { bootstrapBackendResources } from '../dist/devtools/dev-broker/bootstrap.js';
import { startNatsServer } from '../dist/devtools/dev-broker/nats-server.js';
import { buildRelease, ROOT } from '../scripts/release.mjs';

const RUNS = Number(process.env.RUNS ?? 9);
const VERSION_RUNS = Number(process.env.VERSION_RUNS ?? 15);
const TARGETS = (process.env.TARGETS ?? 'linux-x64,linux-arm64,win-x64').split(',');
const VERSION = '0.0.0-bench';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function gzipSize(file) {
  let size = 0;
  const gz = createReadStream(file).pipe(createGzip({ level: 6 }));
  for await (const chunk of gz) size += chunk.length;
  return size;
}

const work = await mkdtemp(join(tmpdir(), 'kanade-bench-release-'));
const quiet = () => {};
try {
  // 1. Builds: every target with the default code-cache policy, and linux-x64 without a cache.
  const t0 = Date.now();
  const cached = await buildRelease({ version: VERSION, targets: TARGETS, outDir: join(work, 'cached'), log: quiet });
  const buildAllMs = Date.now() - t0;
  const t1 = Date.now();
  const plain = await buildRelease({ version: VERSION, targets: ['linux-x64'], outDir: join(work, 'plain'), codeCache: false, log: quiet });
  const buildOneMs = Date.now() - t1;

  console.log(
    `builds: ${TARGETS.join(', ')} in ${(buildAllMs / 1000).toFixed(1)} s; linux-x64 alone (no cache) in ${(buildOneMs / 1000).toFixed(1)} s\n`,
  );
  console.log('| target | file | raw | gzip -6 | code cache |');
  console.log('|---|---|---|---|---|');
  for (const f of [...cached.files, ...plain.files.map((f) => ({ ...f, file: f.file, plain: true }))]) {
    const path = join(f.plain ? plain.dir : cached.dir, f.file);
    console.log(`| ${f.target} | ${f.file} | ${mib(f.size)} | ${mib(await gzipSize(path))} | ${f.code_cache ? 'yes' : 'no'} |`);
  }

  const exeCache = join(cached.dir, cached.files.find((f) => f.target === 'linux-x64').file);
  const exePlain = join(plain.dir, plain.files[0].file);
  const variants = [
    { name: 'exe, code cache', file: exeCache, args: [] },
    { name: 'exe, no code cache', file: exePlain, args: [] },
    { name: 'node dist/bin/kanade-agent.js', file: process.execPath, args: [join(ROOT, 'dist', 'bin', 'kanade-agent.js')] },
  ];

  // 2. --version, interleaved.
  const versionMs = new Map(variants.map((v) => [v.name, []]));
  for (let i = 0; i < VERSION_RUNS; i += 1) {
    for (const v of variants) {
      const s = process.hrtime.bigint();
      const r = spawnSync(v.file, [...v.args, '--version'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${v.name} --version failed: ${r.stderr}`);
      versionMs.get(v.name).push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }

  // 3. start → first heartbeat (the first beat goes out on connect), interleaved.
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  await bootstrapBackendResources(nc);
  const beatMs = new Map(variants.map((v) => [v.name, []]));
  const rssKiB = new Map(variants.map((v) => [v.name, []]));
  let n = 0;
  for (let i = 0; i < RUNS; i += 1) {
    for (const v of variants) {
      n += 1;
      const pc = `BENCH-${n}`;
      const dir = join(work, `agent-${n}`);
      const config = join(dir, 'agent.toml');
      await rm(dir, { recursive: true, force: true });
      await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
      await writeFile(
        config,
        `[agent]\nid = "${pc}"\nnats_url = "${server.url}"\ndata_dir = "${join(dir, 'data')}"\n[log]\nlevel = "warn"\nkeep_days = 0\n[control]\nsocket = "${join(dir, 'data', 'agent.sock')}"\n`,
      );
      const sub = nc.subscribe(`heartbeat.${pc}`, { max: 1 });
      await nc.flush();
      const s = process.hrtime.bigint();
      const child = spawn(v.file, [...v.args, 'run', '--config', config], {
        stdio: 'ignore',
        env: { ...process.env, KANADE_AGENT_DATA_DIR: '' },
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // The first heartbeat is all we wait for.
      await sub[Symbol.asyncIterator]().next();
      beatMs.get(v.name).push(Number(process.hrtime.bigint() - s) / 1e6);
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
      const rss = /VmRSS:\s+(\d+)/.exec(status);
      if (rss) rssKiB.get(v.name).push(Number(rss[1]));
      child.kill('SIGTERM');
      await exited;
    }
  }
  await nc.close();
  await server.cleanup();

  console.log(
    `\n| binary | --version (median of ${VERSION_RUNS}) | start → first heartbeat (median of ${RUNS}) | RSS at first heartbeat (median) |`,
  );
  console.log('|---|---|---|---|');
  for (const v of variants) {
    console.log(
      `| ${v.name} | ${median(versionMs.get(v.name)).toFixed(0)} ms | ${median(beatMs.get(v.name)).toFixed(0)} ms | ${(median(rssKiB.get(v.name)) / 1024).toFixed(0)} MiB |`,
    );
  }
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(`\nload average during the run: ${load} (2 cores, shared)`);
  void stat;
} finally {
  await rm(work, { recursive: true, force: true });
}
