/**
 * The inspector's HTTP server: one page, one SVG per machine, a JSON state dump and a
 * Server-Sent-Events stream. It binds to loopback only and never lets a browser slow the agent:
 * updates are batched, and a client whose socket is backed up simply misses updates (counted).
 * Every request needs the per-run token (in the printed URL, then an HttpOnly cookie): another local
 * user cannot read the agent's internals by guessing the port.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { layoutMachineGraph } from './chart-layout.js';
import { renderChartSvg } from './chart-svg.js';
import type { InspectionHub, LogEntry } from './inspection-hub.js';
import { INSPECTOR_CSP, inspectorPageHtml } from './inspector-page.js';
import { isLoopbackHostHeader, loopbackBindAddress } from './loopback.js';
import { extractMachineGraph } from './machine-graph.js';
import { redactPayload } from './redact.js';

/**
 * Browsers connected at once. When full, the OLDEST stream is closed to serve the new one, so nobody
 * is locked out by streams left open (each one costs a socket and a JSON copy per update).
 */
export const MAX_SSE_CLIENTS = 16;
/** Updates are batched: at most one per client per this interval. */
export const SSE_FLUSH_INTERVAL_MS = 100;
/** A client with more than this many bytes unsent misses updates until it catches up. */
export const SSE_MAX_BACKLOG_BYTES = 256 * 1024;
/** The status report is small and secret-free, but still goes through redaction, with room for every child. */
const STATUS_REDACT = { maxDepth: 8, maxItems: 50, maxJsonChars: 20_000 } as const;
/** Keep-alive comment interval (proxies and browsers drop silent streams). */
const SSE_KEEPALIVE_MS = 15_000;

/** Options of {@link startInspectorServer}. */
export interface InspectorServerOptions {
  readonly hub: InspectionHub;
  /** Must be loopback; anything else throws `InspectorBindError` before a socket is opened. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Shown in the page title. */
  readonly title?: string;
  /** Overrides SSE_FLUSH_INTERVAL_MS / SSE_MAX_BACKLOG_BYTES (tests). */
  readonly flushIntervalMs?: number;
  readonly maxBacklogBytes?: number;
  /** Overrides MAX_SSE_CLIENTS (tests). */
  readonly maxClients?: number;
  /** The per-run access token; default 32 random bytes, base64url (tests may fix it). */
  readonly token?: string;
}

/** A running inspector server. */
export interface InspectorServer {
  /** Base URL, without the token (requests need the cookie or `?token=`). */
  readonly url: string;
  /** The URL to open: base URL with `?token=…`; the first load sets the cookie. */
  readonly authUrl: string;
  /** The per-run token (secret: print it only where `authUrl` is printed). */
  readonly token: string;
  /** Name of the cookie that carries the token (per port: cookies ignore ports). */
  readonly cookieName: string;
  readonly port: number;
  /** Updates not sent because a client was backed up. */
  drops(): number;
  /** Adds the supervisor's status report (what `kanade-agent status` prints) to every update. */
  setStatusSource(report: () => unknown): void;
  clients(): number;
  /** Streams closed to make room for a newer one. */
  evictions(): number;
  close(): Promise<void>;
}

interface Client {
  readonly res: ServerResponse;
  lastSeq: number;
  drops: number;
}

/**
 * Starts the server; resolves once it listens.
 *
 * @example
 * const server = await startInspectorServer({ hub, host: '127.0.0.1', port: 4280 });
 * log.info({ url: server.url }, 'inspector listening');
 */
export async function startInspectorServer(options: InspectorServerOptions): Promise<InspectorServer> {
  const host = loopbackBindAddress(options.host);
  const { hub } = options;
  const flushIntervalMs = options.flushIntervalMs ?? SSE_FLUSH_INTERVAL_MS;
  const maxBacklogBytes = options.maxBacklogBytes ?? SSE_MAX_BACKLOG_BYTES;
  const maxClients = options.maxClients ?? MAX_SSE_CLIENTS;
  let evicted = 0;
  const token = options.token ?? randomBytes(32).toString('base64url');
  const tokenDigest = digest(token);
  let cookieName = 'kanade_inspector';
  // A Set iterates in insertion order: the first entry is the oldest client.
  const clients = new Set<Client>();
  const svgCache = new Map<string, Promise<string>>();
  let totalDrops = 0;
  let flushTimer: NodeJS.Timeout | undefined;

  const chartSvg = (key: string): Promise<string> | undefined => {
    const cached = svgCache.get(key);
    if (cached) return cached;
    const machine = hub.machine(key);
    if (!machine) return undefined;
    const svg = layoutMachineGraph(extractMachineGraph(machine)).then((layout) => renderChartSvg(layout));
    svgCache.set(key, svg);
    return svg;
  };

  let statusSource: (() => unknown) | undefined;
  const report = (): unknown => {
    if (!statusSource) return undefined;
    try {
      return redactPayload(statusSource(), STATUS_REDACT);
    } catch {
      return undefined;
    }
  };

  const stateBody = (afterSeq: number): Record<string, unknown> => ({
    title: hub.title() ?? options.title ?? 'kanade-agent',
    report: report(),
    actors: hub.actors(),
    ended: hub.ended(),
    events: hub.events(afterSeq),
    stats: { ...hub.stats(), drops: totalDrops, clients: clients.size },
  });

  const flush = (): void => {
    flushTimer = undefined;
    if (clients.size === 0) return;
    const base = {
      type: 'update',
      title: hub.title() ?? options.title ?? 'kanade-agent',
      report: report(),
      actors: hub.actors(),
      ended: hub.ended(),
    };
    const all = hub.events();
    const lastSeq = all.length > 0 ? (all[all.length - 1] as LogEntry).seq : hub.stats().lastSeq;
    const bySeq = new Map<number, string>();
    for (const client of clients) {
      if (client.res.writableLength > maxBacklogBytes) {
        // Drop, never buffer more: the client gets the missed log entries later if they are still held.
        client.drops += 1;
        totalDrops += 1;
        continue;
      }
      let frame = bySeq.get(client.lastSeq);
      if (frame === undefined) {
        const events = all.filter((e) => e.seq > client.lastSeq);
        frame = `data: ${JSON.stringify({ ...base, events, stats: { ...hub.stats(), drops: totalDrops, clients: clients.size } })}\n\n`;
        bySeq.set(client.lastSeq, frame);
      }
      client.lastSeq = lastSeq;
      client.res.write(frame);
    }
  };

  const scheduleFlush = (): void => {
    if (flushTimer !== undefined || clients.size === 0) return;
    flushTimer = setTimeout(flush, flushIntervalMs);
    flushTimer.unref();
  };
  const unsubscribe = hub.onChange(scheduleFlush);
  const keepalive = setInterval(() => {
    for (const client of clients) if (client.res.writableLength <= maxBacklogBytes) client.res.write(': keepalive\n\n');
  }, SSE_KEEPALIVE_MS);
  keepalive.unref();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A page on another origin could reach loopback through DNS rebinding; it would not send a loopback Host.
    if (!isLoopbackHostHeader(req.headers.host))
      return send(res, 403, 'text/plain', 'forbidden: the inspector answers loopback hosts only\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const presented = url.searchParams.get('token') ?? cookieValue(req.headers.cookie, cookieName);
    if (presented === undefined || presented === null)
      return send(res, 401, 'text/plain', 'unauthorized: open the inspector URL the agent printed (it carries ?token=)\n');
    if (!timingSafeEqual(digest(presented), tokenDigest))
      return send(res, 403, 'text/plain', 'forbidden: wrong inspector token (it changes every run)\n');
    if (url.searchParams.has('token')) {
      // HttpOnly: page scripts never see it; Strict: no other site's page sends it.
      res.setHeader('set-cookie', `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`);
    }
    if (path === '/') {
      // Lay every known chart out now, while the page loads, rather than one by one on first fetch.
      for (const key of hub.charts()) void chartSvg(key)?.catch(() => undefined);
      res.setHeader('content-security-policy', INSPECTOR_CSP);
      return send(res, 200, 'text/html; charset=utf-8', inspectorPageHtml(hub.title() ?? options.title ?? 'kanade-agent'));
    }
    if (path === '/favicon.ico') return send(res, 204, 'text/plain', '');
    if (path === '/api/state') return send(res, 200, 'application/json', JSON.stringify(stateBody(0)));
    if (path === '/events') return openStream(req, res);
    const chart = /^\/chart\/([A-Za-z0-9._-]+)\.svg$/.exec(path);
    if (chart) {
      const svg = chartSvg(chart[1] as string);
      if (!svg) return send(res, 404, 'text/plain', 'no such chart\n');
      svg.then(
        (text) => send(res, 200, 'image/svg+xml', text),
        (err: unknown) => send(res, 500, 'text/plain', `chart layout failed: ${(err as Error).message}\n`),
      );
      return;
    }
    send(res, 404, 'text/plain', 'not found\n');
  };

  const openStream = (req: IncomingMessage, res: ServerResponse): void => {
    // Fair share: a new browser always gets in; the longest-connected one makes room (its EventSource reconnects,
    // so a reloaded tab is not lost for good, but nobody can hold every slot).
    while (clients.size >= maxClients) {
      const oldest = clients.values().next().value as Client;
      clients.delete(oldest);
      evicted += 1;
      oldest.res.end();
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const client: Client = { res, lastSeq: 0, drops: 0 };
    clients.add(client);
    req.socket.setNoDelay(true);
    const drop = (): void => {
      clients.delete(client);
    };
    req.on('close', drop);
    res.on('error', drop);
    res.write('retry: 1000\n\n');
    scheduleFlush();
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  const port = (server.address() as AddressInfo).port;
  cookieName = `kanade_inspector_${port}`;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    authUrl: `http://${urlHost}:${port}/?token=${token}`,
    token,
    cookieName,
    port,
    evictions: () => evicted,
    drops: () => totalDrops,
    setStatusSource(source) {
      statusSource = source;
      scheduleFlush();
    },
    clients: () => clients.size,
    async close() {
      unsubscribe();
      clearInterval(keepalive);
      if (flushTimer) clearTimeout(flushTimer);
      for (const client of clients) client.res.end();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Fixed-length digest, so tokens of any length compare in constant time. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The value of one cookie from a Cookie header, or undefined. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}
