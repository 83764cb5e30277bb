/**
 * The inspector's bind rule: it serves the agent's internals, so it listens on loopback only.
 * `--inspect [[host:]port]` is parsed here and any other host is refused with a clear error.
 */

/** Port the inspector uses when `--inspect` is given without one. */
export const DEFAULT_INSPECT_PORT = 4280;
/** The only hosts the inspector may bind to. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'] as const;

/** Thrown when asked to bind the inspector anywhere but loopback. */
export class InspectorBindError extends Error {
  override readonly name = 'InspectorBindError';
}

/**
 * Returns the literal address to bind for `host`, or throws `InspectorBindError`.
 * `localhost` maps to 127.0.0.1 so name resolution can never widen the bind.
 *
 * @example
 * loopbackBindAddress('0.0.0.0'); // throws: refusing to serve the inspector on 0.0.0.0 …
 */
export function loopbackBindAddress(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '127.0.0.1' || bare === 'localhost') return '127.0.0.1';
  if (bare === '::1') return '::1';
  throw new InspectorBindError(
    `refusing to serve the inspector on ${host}: it exposes the agent's internals, so it binds to loopback only (${LOOPBACK_HOSTS.join(', ')})`,
  );
}

/** A parsed `--inspect` value. */
export interface InspectAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses the `--inspect` option value: `true` (flag alone), `PORT`, `HOST:PORT` or `[::1]:PORT`.
 *
 * @example
 * parseInspectAddress('9000'); // { host: '127.0.0.1', port: 9000 }
 */
export function parseInspectAddress(value: string | true): InspectAddress {
  const text = value === true ? '' : value.trim();
  if (text === '') return { host: '127.0.0.1', port: DEFAULT_INSPECT_PORT };
  const match = /^(\d+)$/.exec(text) ?? /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  let host = '127.0.0.1';
  let portText = String(DEFAULT_INSPECT_PORT);
  if (match && match.length === 2) portText = match[1] as string;
  else if (match) [host, portText] = [match[1] as string, match[2] as string];
  else host = text; // a host alone, e.g. `::1` or `0.0.0.0`
  const bind = loopbackBindAddress(host);
  const port = Number(portText);
  if (!Number.isSafeInteger(port) || port > 65535) throw new InspectorBindError(`--inspect: port out of range: ${portText}`);
  return { host: bind, port };
}

/** Whether a request's Host header names loopback (refuses DNS-rebinding pages from other origins). */
export function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined) return false;
  const host = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.replace(/:\d+$/, '');
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}
