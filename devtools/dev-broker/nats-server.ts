/**
 * Runs real `nats-server -js` processes on loopback for tests and the agent's `dev` mode.
 *
 * Each server gets a generated config file (JetStream clustering needs `server_name` and a
 * `cluster {}` block, so one format serves both cases) and is considered ready only when a client
 * can fetch JetStream account info, which in a cluster also means a meta leader was elected.
 * Every child process is tracked and SIGKILLed on process exit so no server outlives its owner.
 *
 * @example
 * const server = await startNatsServer();
 * const nc = await connect({ servers: server.url });
 * // ...
 * await nc.close();
 * await server.cleanup();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { EXTRA_DIRS, isExecutable, locate } from '../tool-locator.mjs';

/** Message of the error thrown when no nats-server binary can be found. */
export const NATS_SERVER_INSTALL_HINT =
  "nats-server not found: install it with 'apt-get install -y nats-server' (Debian/Ubuntu) or set KANADE_NATS_SERVER=/path/to/nats-server";

/** Environment variable naming an explicit nats-server binary. */
export const NATS_SERVER_ENV = 'KANADE_NATS_SERVER';

/** Directories searched after PATH, because Debian installs the binary in /usr/sbin (shared with the ensure step). */
export const EXTRA_BINARY_DIRS: readonly string[] = EXTRA_DIRS;

/** How long a server may take to accept clients with JetStream available. */
export const READY_TIMEOUT_MS = 10_000;

/** How long a cluster may take to elect a JetStream meta leader. */
export const CLUSTER_READY_TIMEOUT_MS = 20_000;

/** Pause between readiness probes. */
export const READY_POLL_INTERVAL_MS = 100;

/** Timeout of a single readiness probe (connect + account info). */
export const READY_PROBE_TIMEOUT_MS = 1_000;

/** Grace period after SIGTERM before a server is SIGKILLed. */
export const STOP_GRACE_MS = 5_000;

/** Bytes of server stderr kept for error messages. */
export const STDERR_TAIL_BYTES = 16 * 1024;

/** Loopback address every server binds to. */
export const LOOPBACK_HOST = '127.0.0.1';

/** Cluster membership of one node; `routes` are `nats-route://host:port` URLs of the peers. */
export interface NatsClusterNodeOptions {
  /** Cluster name shared by all nodes. */
  name: string;
  /** Cluster (route) listen port of this node. */
  port: number;
  /** Route URLs of the other nodes. */
  routes: string[];
}

/** Options for {@link startNatsServer}; everything defaults to a fresh throwaway server. */
export interface NatsServerOptions {
  /** Client port; a free loopback port when omitted. */
  port?: number;
  /** JetStream store directory; a temp directory (removed by `cleanup`) when omitted. */
  storeDir?: string;
  /** Extra command-line arguments appended after `-c <config>`. */
  args?: string[];
  /** `server_name`; generated when omitted. */
  serverName?: string;
  /** Cluster block; makes this node one member of a JetStream cluster. */
  cluster?: NatsClusterNodeOptions;
  /** Readiness timeout (ms); {@link READY_TIMEOUT_MS} when omitted. */
  readyTimeoutMs?: number;
  /** Skip the readiness wait (used by clusters, which wait for all nodes together). */
  skipReadyWait?: boolean;
  /**
   * Require this token from every client (`authorization { token }` in the 0600 config file, never
   * on the command line where `ps` shows it to every local user). `dev` sets a random one.
   */
  token?: string;
}

/** A running (or stopped, restartable) nats-server process. */
export interface NatsServerHandle {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Client port; stays the same across restarts. */
  readonly port: number;
  /** JetStream store directory; stays the same across restarts. */
  readonly storeDir: string;
  /** PID of the current process, or undefined while stopped. */
  readonly pid: number | undefined;
  /** `server_name` of this node. */
  readonly serverName: string;
  /** Last bytes the server wrote to stderr (its log). */
  stderr(): string;
  /** Resolves once JetStream answers on this node. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM, wait for exit, SIGKILL after {@link STOP_GRACE_MS}. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Stops if running, then starts again on the same port with the same store and waits ready. */
  restart(): Promise<void>;
  /** Stops and removes the generated config and any store directory this module created. */
  cleanup(): Promise<void>;
}

/** A running JetStream cluster of loopback nodes. */
export interface NatsClusterHandle {
  /** Client URLs of all nodes, in node order. */
  urls: string[];
  /** Node handles, in the same order as `urls`. */
  nodes: NatsServerHandle[];
  /** Stops every node and removes their temp directories. */
  stopAll(): Promise<void>;
}

/** Children still alive; SIGKILLed synchronously if the owning process exits. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * On Linux, util-linux `setpriv --pdeathsig KILL` makes the kernel SIGKILL the server when its
 * parent dies, which covers what an 'exit' handler cannot: vitest stops fork workers with SIGTERM
 * (no 'exit' event) and SIGKILL. setpriv execs the server, so the PID is still the server's.
 */
const SETPRIV_CANDIDATES: readonly string[] = ['/usr/bin/setpriv', '/bin/setpriv'];
let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = process.platform === 'linux' ? (SETPRIV_CANDIDATES.find((p) => isExecutable(p)) ?? null) : null;
  }
  return setprivPath;
}

/** Command and arguments that run `binary args` and die with this process where the OS allows. */
function parentBoundCommand(binary: string, args: string[]): [string, string[]] {
  const setpriv = findSetpriv();
  return setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
}

/**
 * Locates the nats-server binary: `$KANADE_NATS_SERVER`, then PATH, then {@link EXTRA_BINARY_DIRS}.
 * Throws an Error whose message is {@link NATS_SERVER_INSTALL_HINT} when none is found.
 */
export function findNatsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const where = locate({ bin: 'nats-server', env: NATS_SERVER_ENV }, env);
  if (where.path) return where.path;
  if (where.badOverride) {
    throw new Error(`${NATS_SERVER_INSTALL_HINT} (${NATS_SERVER_ENV}=${where.badOverride} is not executable)`);
  }
  throw new Error(NATS_SERVER_INSTALL_HINT);
}

/** Returns a TCP port that was free on loopback a moment ago (bind to port 0, read it, close). */
export async function pickFreePort(host: string = LOOPBACK_HOST): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function renderConfig(cfg: {
  port: number;
  serverName: string;
  storeDir: string;
  cluster?: NatsClusterNodeOptions;
  token?: string;
}): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `listen: ${q(`${LOOPBACK_HOST}:${cfg.port}`)}`,
    `server_name: ${q(cfg.serverName)}`,
    `jetstream {`,
    `  store_dir: ${q(cfg.storeDir)}`,
    `}`,
  ];
  if (cfg.token !== undefined) lines.push(`authorization {`, `  token: ${q(cfg.token)}`, `}`);
  if (cfg.cluster) {
    lines.push(
      `cluster {`,
      `  name: ${q(cfg.cluster.name)}`,
      `  listen: ${q(`${LOOPBACK_HOST}:${cfg.cluster.port}`)}`,
      `  routes: [${cfg.cluster.routes.map(q).join(', ')}]`,
      `}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Resolves true if the server at `url` is the one named `serverName` (not some other process that
 * holds the port) and JetStream account info could be fetched from it.
 */
async function probeJetStream(url: string, serverName: string, token?: string): Promise<boolean> {
  let nc;
  try {
    nc = await connect({
      servers: url,
      ...(token === undefined ? {} : { token }),
      reconnect: false,
      timeout: READY_PROBE_TIMEOUT_MS,
      noRandomize: true,
    });
    if (nc.info?.server_name !== serverName) return false;
    const jsm = await jetstreamManager(nc, { timeout: READY_PROBE_TIMEOUT_MS });
    await jsm.getAccountInfo();
    return true;
  } catch {
    return false;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class NatsServerProcess implements NatsServerHandle {
  readonly url: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stderr = '';
  #cleaned = false;

  constructor(
    private readonly binary: string,
    readonly port: number,
    readonly storeDir: string,
    readonly serverName: string,
    private readonly configDir: string,
    private readonly configPath: string,
    private readonly extraArgs: string[],
    private readonly ownsStore: boolean,
    private readonly readyTimeoutMs: number,
    private readonly token?: string,
  ) {
    this.url = `nats://${LOOPBACK_HOST}:${port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  stderr(): string {
    return this.#stderr;
  }

  /** Spawns the process; does not wait for readiness. */
  spawn(): void {
    if (this.#child) throw new Error(`nats-server ${this.serverName} is already running`);
    if (this.#cleaned) throw new Error(`nats-server ${this.serverName} was cleaned up`);
    installExitHook();
    const [command, args] = parentBoundCommand(this.binary, ['-c', this.configPath, ...this.extraArgs]);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    // Both pipes must be drained or the server blocks once a pipe buffer fills.
    const append = (chunk: Buffer): void => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.#exited = new Promise<void>((resolve) => {
      const done = (): void => {
        liveChildren.delete(child);
        if (this.#child === child) this.#child = undefined;
        resolve();
      };
      child.once('exit', done);
      child.once('error', (err) => {
        append(Buffer.from(`spawn error: ${err.message}\n`));
        done();
      });
    });
    this.#child = child;
  }

  async waitReady(timeoutMs: number = this.readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.#child) {
        throw new Error(`nats-server ${this.serverName} exited before it was ready (port ${this.port}); stderr:\n${this.#stderr}`);
      }
      if (await probeJetStream(this.url, this.serverName, this.token)) return;
      if (Date.now() >= deadline) {
        throw new Error(`nats-server ${this.serverName} not ready within ${timeoutMs} ms (port ${this.port}); stderr:\n${this.#stderr}`);
      }
      await delay(READY_POLL_INTERVAL_MS);
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = this.#exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = this.#exited;
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.spawn();
    await this.waitReady();
  }

  async cleanup(): Promise<void> {
    await this.stop();
    this.#cleaned = true;
    await rm(this.configDir, { recursive: true, force: true });
    if (this.ownsStore) await rm(this.storeDir, { recursive: true, force: true });
  }
}

/** Creates (but does not spawn) a server process with its config written to a temp directory. */
async function prepareServer(opts: NatsServerOptions): Promise<NatsServerProcess> {
  const binary = findNatsServerBinary();
  const port = opts.port ?? (await pickFreePort());
  const ownsStore = opts.storeDir === undefined;
  const configDir = await mkdtemp(join(tmpdir(), 'kanade-nats-conf-'));
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'kanade-nats-js-')));
  // Unique even for the same port, so readiness never mistakes another server for this one.
  const serverName = opts.serverName ?? `kanade-dev-${port}-${randomBytes(4).toString('hex')}`;
  const configPath = join(configDir, 'nats-server.conf');
  await writeFile(configPath, renderConfig({ port, serverName, storeDir, cluster: opts.cluster, token: opts.token }), { mode: 0o600 });
  return new NatsServerProcess(
    binary,
    port,
    storeDir,
    serverName,
    configDir,
    configPath,
    opts.args ?? [],
    ownsStore,
    opts.readyTimeoutMs ?? READY_TIMEOUT_MS,
    opts.token,
  );
}

/**
 * Starts one `nats-server` with JetStream on loopback and waits until JetStream answers.
 * Throws with {@link NATS_SERVER_INSTALL_HINT} when the binary is missing, or with the server's
 * stderr when it does not become ready within {@link READY_TIMEOUT_MS}.
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const server = await prepareServer(opts);
  server.spawn();
  if (opts.skipReadyWait) return server;
  try {
    await server.waitReady();
  } catch (err) {
    await server.cleanup();
    throw err;
  }
  return server;
}

/**
 * Starts `size` (default 3) JetStream nodes clustered over loopback routes and waits until every
 * node answers JetStream requests, i.e. a meta leader has been elected.
 */
export async function startNatsCluster(size = 3, opts: { name?: string; readyTimeoutMs?: number } = {}): Promise<NatsClusterHandle> {
  const name = opts.name ?? `kanade-dev-cluster-${randomBytes(3).toString('hex')}`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? CLUSTER_READY_TIMEOUT_MS;
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await pickFreePort());
    routePorts.push(await pickFreePort());
  }
  const routes = routePorts.map((p) => `nats-route://${LOOPBACK_HOST}:${p}`);
  const nodes: NatsServerHandle[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.cleanup()));
  };
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await startNatsServer({
          port: clientPorts[i],
          serverName: `${name}-n${i + 1}`,
          cluster: {
            name,
            port: routePorts[i] as number,
            routes: routes.filter((_, j) => j !== i),
          },
          readyTimeoutMs,
          skipReadyWait: true,
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.waitReady(readyTimeoutMs)));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { urls: nodes.map((n) => n.url), nodes, stopAll };
}
