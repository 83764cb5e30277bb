/**
 * One line saying why the broker cannot be reached, for the log and `status` (issue #14: a broker
 * on a closed port or an unknown host left nothing in the log for 65 s, and a wrong token logged
 * "NATS refused the none credentials" when none was set). No stack traces: these are expected.
 *
 * @example
 * describeConnectError(err, 'none'); // 'authorization refused: no credentials set; set KANADE_NATS_TOKEN …'
 */
import type { AuthChoice } from './nats-options.js';

/** What to do when the broker wants credentials and none are configured. */
export const NO_CREDENTIALS_HINT = 'no credentials set; set KANADE_NATS_TOKEN (or KANADE_NATS_USER and KANADE_NATS_PASSWORD)';

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : typeof e?.code === 'string' ? e.code : undefined;
  return code;
}

/** The cause of a failed connect or a dropped connection, in one line. */
export function describeConnectError(error: unknown, choice: AuthChoice): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = codeOf(error);
  if (/Authoriz|Authentication/i.test(`${(error as Error | undefined)?.name ?? ''} ${message}`)) {
    return choice === 'none'
      ? `authorization refused: ${NO_CREDENTIALS_HINT}`
      : `authorization refused for the ${choice === 'user' ? 'KANADE_NATS_USER/KANADE_NATS_PASSWORD' : 'KANADE_NATS_TOKEN'} credentials`;
  }
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED): is nats-server running and listening on that port?';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `unknown host (${code}): check [agent] nats_url`;
  if (code === 'ETIMEDOUT' || /timeout|timed out/i.test(message)) return `timed out (${code ?? 'TIMEOUT'}): the broker did not answer`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return `connection reset (${code})`;
  if ((code !== undefined && code.startsWith('ERR_TLS')) || /TLS|SSL|certificate/i.test(message))
    return `TLS: ${(error as { cause?: Error }).cause?.message ?? message}`;
  const cause = (error as { cause?: Error }).cause?.message;
  return code !== undefined ? `${code}: ${cause ?? message}` : (cause ?? message);
}
