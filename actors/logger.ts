/**
 * The agent's pino logger, with NATS credentials and signing material redacted.
 *
 * Writes are synchronous: the root actor logs `fatal` and exits at once (style.md §1), and an
 * asynchronous buffer would lose exactly that last line.
 *
 * @example
 * const log = createLogger({ level: 'info', destination: '/var/log/kanade/agent.log', name: 'kanade-agent' });
 * log.info({ credentials }, 'connecting'); // credentials → "[redacted]"
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { DailyLogFile } from './daily-log-file.js';

/** Standard output's file descriptor, the destination when no log path is configured. */
const STDOUT_FD = 1;

/** Text that replaces a redacted value, so a reader sees that something was there. */
export const REDACT_CENSOR = '[redacted]';

/**
 * Object paths whose values never reach a log line. pino's `*` matches one level, so each secret
 * is listed at the top level and one level down (`{ credentials }` and `{ conn: { credentials } }`).
 */
export const REDACT_PATHS: readonly string[] = [
  'token', '*.token',
  'password', '*.password',
  'credentials', '*.credentials',
  'auth', '*.auth',
  'authorization', '*.authorization',
  'secret', '*.secret',
  'sign_key', '*.sign_key',
  'private_key', '*.private_key',
  'headers["Kanade-Sig"]', '*.headers["Kanade-Sig"]',
];

/** Options of {@link createLogger}; `destination` is a file path or a file descriptor. */
export interface CreateLoggerOptions {
  level: string;
  destination?: string | number;
  name?: string;
  /** With a path destination: write daily files `<stem>.<date>.<ext>` and keep this many days (§12). */
  keepDays?: number;
}

/** Creates a synchronous, secret-redacting pino logger writing to a file (parent created) or stdout. */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const dest = opts.destination ?? STDOUT_FD;
  if (typeof dest === 'string') mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
  const stream = typeof dest === 'string' && opts.keepDays !== undefined && opts.keepDays > 0
    ? new DailyLogFile(dest, opts.keepDays)
    : pino.destination({ dest, sync: true, mode: 0o600 });
  return pino(
    {
      level: opts.level,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      redact: { paths: [...REDACT_PATHS], censor: REDACT_CENSOR },
    },
    stream,
  );
}
