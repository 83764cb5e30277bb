/**
 * The read-only control endpoint: a Unix socket (mode 0600) or, on Windows, a named pipe. Each
 * connection receives one JSON status report followed by a newline, then the server closes it;
 * nothing the client sends is read.
 *
 * @example
 * const socket = await startControlSocket({ path: config.control.socket, report: () => projectStatus(...) });
 * // later
 * await socket.close();
 */
import { chmod, mkdir, stat, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { untrusted } from './private-files.js';

/** How long to wait for an existing socket to answer before treating it as stale. */
export const STALE_PROBE_TIMEOUT_MS = 500;
/** Owner read/write only: the report names servers and ids, nothing for other users. */
export const CONTROL_SOCKET_MODE = 0o600;

/** A listening control socket. */
export interface ControlSocket {
  readonly path: string;
  /** Stops listening and removes the socket file. */
  close(): Promise<void>;
}

/** Options of {@link startControlSocket}. */
export interface ControlSocketOptions {
  readonly path: string;
  /** Produces the report sent to each client. */
  report(): unknown;
  readonly platform?: NodeJS.Platform;
}

/** Error thrown when another live process already answers on the socket path. */
export class ControlSocketInUseError extends Error {
  constructor(readonly socketPath: string) {
    super(`another process is answering on the control socket ${socketPath}; is another agent running with the same data dir?`);
    this.name = 'ControlSocketInUseError';
  }
}

/**
 * The socket's directory is writable by others or owned by another user: a local user could
 * squat the path (their own socket answering `status`) or swap it. Restarting does not fix it.
 */
export class ControlSocketDirError extends Error {
  constructor(
    readonly socketPath: string,
    readonly problem: string,
  ) {
    super(`[control] socket ${socketPath}: ${problem}; use a directory only the agent's user can write (e.g. the data dir)`);
    this.name = 'ControlSocketDirError';
  }
}

function isWindowsPipe(socketPath: string, platform: NodeJS.Platform): boolean {
  return platform === 'win32' && socketPath.startsWith('\\\\.\\pipe\\');
}

/** Resolves true when something accepts a connection on `socketPath`. */
export function probeSocket(socketPath: string, timeoutMs = STALE_PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const client = net.connect(socketPath);
    const done = (alive: boolean): void => {
      clearTimeout(timer);
      client.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    client.once('connect', () => done(true));
    client.once('error', () => done(false));
  });
}

/** Listens on the control socket, replacing a stale socket file left by a killed agent. */
export async function startControlSocket(opts: ControlSocketOptions): Promise<ControlSocket> {
  const platform = opts.platform ?? process.platform;
  const pipe = isWindowsPipe(opts.path, platform);
  if (!pipe) {
    await mkdir(path.dirname(opts.path), { recursive: true, mode: 0o700 });
    const dir = path.dirname(opts.path);
    const problem = untrusted(await stat(dir), `its directory ${dir}`, platform);
    if (problem !== undefined) throw new ControlSocketDirError(opts.path, problem);
    if (await probeSocket(opts.path)) throw new ControlSocketInUseError(opts.path);
    await unlink(opts.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    let body: string;
    try {
      body = `${JSON.stringify(opts.report())}\n`;
    } catch (error) {
      body = `${JSON.stringify({ error: `status report failed: ${(error as Error).message}` })}\n`;
    }
    client.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (!pipe) await chmod(opts.path, CONTROL_SOCKET_MODE);
  // A status client must never keep the agent alive at exit.
  server.unref();
  return {
    path: opts.path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // net.Server.close on a Unix socket removes the file; unlink again in case it did not.
        if (!pipe) void unlink(opts.path).catch(() => undefined);
      }),
  };
}

/** Reads one report from the control socket; rejects with the OS error when nobody answers. */
export function readControlSocket(socketPath: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = net.connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      client.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    client.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
