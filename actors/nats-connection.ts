/**
 * The NATS connection as a callback actor: connects (forever, through every server of the cluster
 * list), presents the user then the token (contract §2), probes liveness every ~15 s, reports RTT,
 * and writes the broker hub. It talks to its machine only through events:
 *
 * - sends `connection.connected {server}`, `connection.disconnected`, `connection.rttMeasured {ms}`,
 *   `connection.authRefused {choice}`, `connection.authGaveUp {error}`, `connection.crashed {error}`,
 *   `connection.closed`;
 * - receives `drain` (graceful stop: drain and close, then `connection.closed`).
 *
 * Expected failures (broker absent, dropped link) are handled here by nats.js reconnecting; only a
 * bug or a failpoint becomes `connection.crashed`.
 *
 * @example
 * setup({ actors: { natsConnection } }).createMachine({ invoke: { id: 'natsConnection', src: 'natsConnection', input: ({ context }) => context.services } });
 */
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { fromCallback, type EventObject } from 'xstate';
import { AUTH_REFUSED_GIVE_UP_MS, LIVENESS_PROBE_INTERVAL_MS } from '../contract/index.js';
import { brokerWriter } from './broker-hub.js';
import { describeConnectError } from './connect-error.js';
import { authOrder, natsConnectOptions, type AuthChoice } from './nats-options.js';
import type { AgentServices } from './ports.js';

/** Env overriding nats.js's wait between reconnect attempts to one server (tests shrink it). */
export const NATS_RECONNECT_WAIT_ENV = 'KANADE_NATS_RECONNECT_WAIT_MS';
/** nats.js's own default wait between reconnects to the same server. */
export const DEFAULT_RECONNECT_WAIT_MS = 2_000;
/** Random extra wait per reconnect so a fleet does not reconnect in lock step after a broker restart. */
export const RECONNECT_JITTER_MS = 1_000;
/** Env overriding the reconnect jitter (0 = none; bench/fleet.mjs compares the reconnect storm with and without). */
export const NATS_RECONNECT_JITTER_ENV = 'KANADE_NATS_RECONNECT_JITTER_MS';
/** While credentials keep being refused, at most one warning per credential per this period. */
export const AUTH_REFUSED_LOG_EVERY_MS = 10_000;
/** While the broker cannot be reached, at most one warning (with the cause) per this period. */
export const CONNECT_FAILED_LOG_EVERY_MS = 30_000;
/** A liveness probe (publish + round trip) slower than this forces a reconnect. */
export const LIVENESS_PROBE_TIMEOUT_MS = 10_000;

/** Events this actor sends to its parent machine. */
export type NatsConnectionEvent =
  | { type: 'connection.connected'; server: string; since: number }
  | { type: 'connection.disconnected'; since: number }
  | { type: 'connection.rttMeasured'; ms: number }
  | { type: 'connection.authRefused'; choice: AuthChoice; since: number }
  | { type: 'connection.authGaveUp'; error: string }
  | { type: 'connection.failed'; error: string; at: number }
  | { type: 'connection.crashed'; error: unknown }
  | { type: 'connection.closed' };

/** Reconnect wait from {@link NATS_RECONNECT_WAIT_ENV}, else {@link DEFAULT_RECONNECT_WAIT_MS}. */
export function reconnectWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = Number(env[NATS_RECONNECT_WAIT_ENV]);
  return Number.isFinite(raw) && raw > 0 ? raw : DEFAULT_RECONNECT_WAIT_MS;
}

/** Reconnect jitter from {@link NATS_RECONNECT_JITTER_ENV} (≥ 0), else {@link RECONNECT_JITTER_MS}; never above the wait. */
export function reconnectJitterMs(waitMs: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw =
    env[NATS_RECONNECT_JITTER_ENV] === undefined || env[NATS_RECONNECT_JITTER_ENV] === ''
      ? Number.NaN
      : Number(env[NATS_RECONNECT_JITTER_ENV]);
  return Math.min(Number.isFinite(raw) && raw >= 0 ? raw : RECONNECT_JITTER_MS, waitMs);
}

/** True for the server's "Authorization Violation" (and expired credentials). */
export function isAuthError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return /Authoriz|Authentication/i.test(`${error.name} ${error.message}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The connection actor; see the module comment. */
export const natsConnection = fromCallback<EventObject, AgentServices>(({ input: services, sendBack, receive }) => {
  const { config, log, failpoints } = services;
  const hub = brokerWriter(services.broker);
  const send = (event: NatsConnectionEvent): void => sendBack(event);
  const stop = new AbortController();
  const waitMs = reconnectWaitMs();
  let nc: NatsConnection | undefined;
  let probeTimer: NodeJS.Timeout | undefined;
  let everConnected = false;

  const markDisconnected = (): void => {
    const since = Date.now();
    if (hub.state().connected) hub.disconnected(since, everConnected);
    send({ type: 'connection.disconnected', since });
  };

  const probe = async (conn: NatsConnection): Promise<void> => {
    try {
      // An empty publish to a fresh inbox (contract §2) plus a round trip: a dead TCP link shows up
      // here within one interval instead of after the OS keepalive.
      conn.publish(createInbox());
      const ms = await withTimeout(conn.rtt(), LIVENESS_PROBE_TIMEOUT_MS);
      send({ type: 'connection.rttMeasured', ms });
    } catch (error) {
      if (stop.signal.aborted || conn.isClosed()) return;
      log.warn({ error: error instanceof Error ? error.message : String(error) }, 'liveness probe failed; forcing a reconnect');
      conn.reconnect().catch(() => undefined);
    }
  };

  const serve = async (conn: NatsConnection): Promise<void> => {
    everConnected = true;
    const since = Date.now();
    const server = conn.getServer();
    hub.connected(conn, server, since);
    send({ type: 'connection.connected', server, since });
    log.info({ server, connection_name: config.pcId }, 'connected to NATS');
    void probe(conn);
    probeTimer = setInterval(() => void probe(conn), LIVENESS_PROBE_INTERVAL_MS);
    const watchStatus = (async () => {
      for await (const status of conn.status()) {
        if (stop.signal.aborted) return;
        if (status.type === 'disconnect') {
          log.warn({ server: status.server }, 'disconnected from NATS; reconnecting');
          send({ type: 'connection.failed', error: `disconnected from ${status.server}`, at: Date.now() });
          markDisconnected();
        } else if (status.type === 'error') {
          send({ type: 'connection.failed', error: describeConnectError(status.error, 'none'), at: Date.now() });
        } else if (status.type === 'reconnect') {
          const at = Date.now();
          const current = conn.getServer();
          hub.connected(conn, current, at);
          send({ type: 'connection.connected', server: current, since: at });
          log.info({ server: current }, 'reconnected to NATS');
          void probe(conn);
        }
      }
    })();
    const closedWith = await conn.closed();
    clearInterval(probeTimer);
    await watchStatus.catch(() => undefined);
    if (stop.signal.aborted) return;
    if (closedWith) send({ type: 'connection.failed', error: describeConnectError(closedWith, 'none'), at: Date.now() });
    log.warn({ error: closedWith ? describeConnectError(closedWith, 'none') : null }, 'NATS connection closed; connecting again');
    markDisconnected();
  };

  const run = async (): Promise<void> => {
    const order = authOrder(config.credentials);
    let refusedSince: number | null = null;
    const lastRefusalLog = new Map<AuthChoice, number>();
    let lastFailureLog: { at: number; cause: string } | undefined;
    while (!stop.signal.aborted) {
      await failpoints.hit('connection.connect');
      let connected: NatsConnection | undefined;
      for (const choice of order) {
        try {
          connected = await connect({
            ...natsConnectOptions(config.natsUrls, config.pcId, config.credentials, choice),
            // Each failed first connect comes back here, so its cause is logged and shown in status;
            // this loop retries forever (contract §2) and nats.js reconnects once connected.
            maxReconnectAttempts: -1,
            reconnectTimeWait: waitMs,
            reconnectJitter: reconnectJitterMs(waitMs),
          });
          break;
        } catch (error) {
          if (stop.signal.aborted) return;
          const now = Date.now();
          const cause = describeConnectError(error, choice);
          send({ type: 'connection.failed', error: cause, at: now });
          if (!isAuthError(error)) {
            // Expected while the broker is away: one line with the cause, repeated only when it changes or every 30 s.
            if (lastFailureLog === undefined || lastFailureLog.cause !== cause || now - lastFailureLog.at >= CONNECT_FAILED_LOG_EVERY_MS) {
              lastFailureLog = { at: now, cause };
              log.warn({ servers: config.natsUrls, error: cause }, `cannot connect to NATS: ${cause}; retrying`);
            }
            break;
          }
          refusedSince ??= now;
          if (now - (lastRefusalLog.get(choice) ?? -Infinity) >= AUTH_REFUSED_LOG_EVERY_MS) {
            lastRefusalLog.set(choice, now);
            log.warn({ auth: choice, refused_for_ms: now - refusedSince }, `NATS ${cause}`);
          }
          send({ type: 'connection.authRefused', choice, since: refusedSince });
          if (now - refusedSince >= AUTH_REFUSED_GIVE_UP_MS) {
            send({ type: 'connection.authGaveUp', error: `authorization refused for ${now - refusedSince} ms (${order.join(', ')})` });
            return;
          }
        }
      }
      if (stop.signal.aborted) {
        await connected?.close().catch(() => undefined);
        return;
      }
      if (connected === undefined) {
        await sleep(waitMs, stop.signal);
        continue;
      }
      refusedSince = null;
      lastRefusalLog.clear();
      lastFailureLog = undefined;
      nc = connected;
      await serve(connected);
      nc = undefined;
    }
  };

  run().catch((error: unknown) => {
    if (!stop.signal.aborted) send({ type: 'connection.crashed', error });
  });

  receive((event) => {
    if (event.type !== 'drain' || stop.signal.aborted) return;
    stop.abort();
    clearInterval(probeTimer);
    const conn = nc;
    void (async () => {
      if (conn !== undefined && !conn.isClosed()) {
        // drain() flushes what children published and unsubscribes cleanly; close() if it fails.
        await conn.drain().catch(() => conn.close().catch(() => undefined));
      }
      hub.disconnected(Date.now(), everConnected);
      send({ type: 'connection.closed' });
    })();
  });

  return () => {
    stop.abort();
    clearInterval(probeTimer);
    if (nc !== undefined && !nc.isClosed()) void nc.close().catch(() => undefined);
    if (hub.state().connected) hub.disconnected(Date.now(), everConnected);
  };
});
