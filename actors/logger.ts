/**
 * The agent's pino logger, with NATS credentials and signing material redacted.
 *
 * Lines carry ISO-8601 UTC times (`"time":"2026-11-30T16:00:11.687Z"`) and level names
 * (`"level":"info"`). Writes are synchronous: the root actor logs `fatal` and exits at once
 * (style.md §1), and an asynchronous buffer would lose exactly that last line. The destination never
 * throws (actors/daily-log-file.ts): a full or read-only disk drops lines, it never stops the agent.
 *
 * @example
 * const log = createLogger({ level: 'info', destination: '/var/log/kanade/agent.log', name: 'kanade-agent' });
 * log.info({ credentials }, 'connecting'); // credentials → "[redacted]"
 * logSinkStats(log); // { destination, writable, dropped_lines, … }
 */
import { pino, type Logger } from 'pino';
import { DailyLogFile, StdoutLogSink, type LogSink, type LogSinkStats } from './daily-log-file.js';

/** Text that replaces a redacted value, so a reader sees that something was there. */
export const REDACT_CENSOR = '[redacted]';

/**
 * Object paths whose values never reach a log line. pino's `*` matches one level, so each secret
 * is listed at the top level and one level down (`{ credentials }` and `{ conn: { credentials } }`).
 */
export const REDACT_PATHS: readonly string[] = [
  'token',
  '*.token',
  'password',
  '*.password',
  'credentials',
  '*.credentials',
  'auth',
  '*.auth',
  'authorization',
  '*.authorization',
  'secret',
  '*.secret',
  'sign_key',
  '*.sign_key',
  'private_key',
  '*.private_key',
  'headers["Kanade-Sig"]',
  '*.headers["Kanade-Sig"]',
];

/** Options of {@link createLogger}; `destination` is a file path or stdout (the default). */
export interface CreateLoggerOptions {
  level: string;
  destination?: string;
  name?: string;
  /** With a path destination: write daily files `<stem>.<date>.<ext>` and keep this many days (§12). */
  keepDays?: number;
  /** With a path destination: the per-file cap (`[log] max_size`). */
  maxSizeBytes?: number;
  /** Where the sink's rate-limited warnings go (tests); stderr by default. */
  warn?: (text: string) => void;
}

const SINKS = new WeakMap<Logger, LogSink>();

/** Creates a synchronous, secret-redacting pino logger writing to a file (parent created) or stdout. */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const sink: LogSink =
    opts.destination === undefined
      ? new StdoutLogSink()
      : new DailyLogFile(opts.destination, {
          ...(opts.keepDays === undefined ? {} : { keepDays: opts.keepDays }),
          ...(opts.maxSizeBytes === undefined ? {} : { maxSizeBytes: opts.maxSizeBytes }),
          ...(opts.warn === undefined ? {} : { warn: opts.warn }),
        });
  const log = pino(
    {
      level: opts.level,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: REDACT_CENSOR },
    },
    sink,
  );
  SINKS.set(log, sink);
  return log;
}

/** The destination's health for `status` (dropped lines, last error); null for a logger made elsewhere. */
export function logSinkStats(log: Logger): LogSinkStats | null {
  return SINKS.get(log)?.stats() ?? null;
}
