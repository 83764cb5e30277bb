/**
 * The log file as the contract names it (§12): `[log] path = /var/log/kanade/agent.log` writes
 * `agent.<YYYY-MM-DD>.log` (UTC day), a new file each day, and deletes files older than `keep_days`.
 * A day's file is capped at `[log] max_size`: when a line would pass it, the file becomes
 * `agent.<date>.1.log` (replacing the previous one) and a fresh file starts, so one day never holds
 * more than twice the cap. Writes are synchronous so a `fatal` line before exit is never lost.
 *
 * Logging can never stop the agent (issue #14): a failed write (ENOSPC, EROFS, EACCES, a vanished
 * directory, …) drops the line, counts it, prints one warning on stderr at most every
 * {@link LOG_WARN_INTERVAL_MS}, and tries again (reopening, recreating the directory) at most every
 * {@link LOG_RETRY_MS}. When writing works again, the file gets one line saying how many were lost.
 *
 * @example
 * const file = new DailyLogFile('/var/log/kanade/agent.log', { keepDays: 14 });
 * pino({}, file);
 * file.stats(); // { destination, writable, dropped_lines, last_error, last_error_at }
 */
import { closeSync, fstatSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { mkdirpSync } from './mkdirp.js';

const DAY_MS = 86_400_000;
/** How often a failing log destination is tried again. */
export const LOG_RETRY_MS = 1_000;
/** At most one stderr warning per this interval while lines are being dropped. */
export const LOG_WARN_INTERVAL_MS = 60_000;
/** `[log] max_size` when absent: 64 MiB per file. */
export const DEFAULT_LOG_MAX_SIZE_BYTES = 64 * 1024 * 1024;
/** Mode of log files and of a log directory the agent creates (private, RULES). */
const LOG_FILE_MODE = 0o600;
const LOG_DIR_MODE = 0o700;

/** What `status` shows about the log destination (docs/status.md, `log`). */
export interface LogSinkStats {
  /** The file being written (today's), or `stdout`. */
  readonly destination: string;
  /** False while lines are being dropped. */
  readonly writable: boolean;
  /** Lines dropped since start because the destination could not be written. */
  readonly dropped_lines: number;
  /** The last write error (`ENOSPC: no space left on device`), or null. */
  readonly last_error: string | null;
  readonly last_error_at: string | null;
}

/** A pino destination that never throws; see the module comment. */
export interface LogSink {
  write(chunk: string): boolean;
  end(): void;
  stats(): LogSinkStats;
}

/** `<stem>.<date>.<ext>` for the UTC day of `epochMs`. */
export function dailyLogPath(basePath: string, epochMs: number): string {
  const ext = path.extname(basePath);
  const stem = basePath.slice(0, basePath.length - ext.length);
  return `${stem}.${new Date(epochMs).toISOString().slice(0, 10)}${ext}`;
}

/** `agent.2026-11-30.log` → `agent.2026-11-30.1.log`: where a full day's file is moved. */
export function overflowLogPath(filePath: string): string {
  const ext = path.extname(filePath);
  return `${filePath.slice(0, filePath.length - ext.length)}.1${ext}`;
}

/** Options of {@link DailyLogFile}. */
export interface DailyLogFileOptions {
  /** Days of daily files kept; undefined writes `basePath` itself, never rolled or pruned. */
  readonly keepDays?: number;
  readonly maxSizeBytes?: number;
  readonly now?: () => number;
  /** Where the rate-limited warnings go; stderr by default. */
  readonly warn?: (text: string) => void;
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code !== undefined ? `${e.code}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}` : String(e?.message ?? error);
}

/** Counts drops and rate-limits the stderr warning; shared by the file and stdout sinks. */
class DropTracker {
  dropped = 0;
  droppedSinceOk = 0;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  retryAt = 0;
  private lastWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly warn: (text: string) => void,
  ) {}

  failed(error: unknown, what: string): void {
    const now = this.now();
    this.lastError = errorText(error);
    this.lastErrorAt = now;
    this.retryAt = now + LOG_RETRY_MS;
    this.drop();
    if (now - this.lastWarnAt >= LOG_WARN_INTERVAL_MS) {
      this.lastWarnAt = now;
      this.warn(
        `kanade-agent: cannot write ${what} (${this.lastError}); dropping log lines until it can be written again (${this.dropped} dropped so far; the agent keeps running)\n`,
      );
    }
  }

  drop(): void {
    this.dropped += 1;
    this.droppedSinceOk += 1;
  }

  stats(destination: string): LogSinkStats {
    return {
      destination,
      writable: this.droppedSinceOk === 0,
      dropped_lines: this.dropped,
      last_error: this.lastError,
      last_error_at: this.lastErrorAt === null ? null : new Date(this.lastErrorAt).toISOString(),
    };
  }
}

/** A pino destination that rolls daily, caps file size and survives every write error. */
export class DailyLogFile implements LogSink {
  private fd: number | undefined;
  private currentPath: string;
  private dayEndsAt = 0;
  private size = 0;
  /** The last write stopped mid-line: start the next one on a fresh line. */
  private partial = false;
  private readonly keepDays: number | undefined;
  private readonly maxSizeBytes: number;
  private readonly now: () => number;
  private readonly warn: (text: string) => void;
  private readonly drops: DropTracker;

  constructor(
    private readonly basePath: string,
    opts: DailyLogFileOptions = {},
  ) {
    this.keepDays = opts.keepDays !== undefined && opts.keepDays > 0 ? opts.keepDays : undefined;
    this.maxSizeBytes = opts.maxSizeBytes ?? DEFAULT_LOG_MAX_SIZE_BYTES;
    this.now = opts.now ?? Date.now;
    this.warn = opts.warn ?? ((text) => void process.stderr.write(text));
    this.drops = new DropTracker(this.now, this.warn);
    this.currentPath = this.pathFor(this.now());
  }

  /** Appends one chunk (pino calls this with a whole line); never throws. */
  write(chunk: string): boolean {
    const now = this.now();
    if (this.drops.droppedSinceOk > 0 && now < this.drops.retryAt) {
      this.drops.drop();
      return true;
    }
    try {
      const bytes = Buffer.byteLength(chunk);
      if (this.fd === undefined || now >= this.dayEndsAt) this.roll(now);
      if (this.size > 0 && this.size + bytes > this.maxSizeBytes) this.overflow();
      if (this.partial) this.writeAll('\n');
      if (this.drops.droppedSinceOk > 0) this.writeResumeNotice(now);
      this.writeAll(chunk);
    } catch (error) {
      this.closeQuietly();
      this.drops.failed(error, `log file ${this.currentPath}`);
    }
    return true;
  }

  /** Closes the current file. */
  end(): void {
    this.closeQuietly();
  }

  stats(): LogSinkStats {
    return this.drops.stats(this.currentPath);
  }

  private pathFor(now: number): string {
    return this.keepDays === undefined ? this.basePath : dailyLogPath(this.basePath, now);
  }

  private writeAll(text: string): void {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) {
      this.partial = off > 0;
      const n = writeSync(this.fd as number, buf, off, buf.length - off);
      off += n;
      this.size += n;
      this.partial = off < buf.length;
    }
  }

  private writeResumeNotice(now: number): void {
    const line = JSON.stringify({
      level: 'warn',
      time: new Date(now).toISOString(),
      name: 'kanade-agent',
      dropped_lines: this.drops.droppedSinceOk,
      msg: `${this.drops.droppedSinceOk} log lines were dropped while the log file could not be written (${this.drops.lastError})`,
    });
    this.writeAll(`${line}\n`);
    this.warn(`kanade-agent: log file ${this.currentPath} is writable again; ${this.drops.droppedSinceOk} lines were dropped\n`);
    this.drops.droppedSinceOk = 0;
  }

  private open(): void {
    mkdirpSync(path.dirname(this.currentPath), LOG_DIR_MODE);
    this.fd = openSync(this.currentPath, 'a', LOG_FILE_MODE);
    this.size = fstatSync(this.fd).size;
    this.partial = false;
  }

  private roll(now: number): void {
    this.closeQuietly();
    this.currentPath = this.pathFor(now);
    this.open();
    this.dayEndsAt = this.keepDays === undefined ? Number.POSITIVE_INFINITY : (Math.floor(now / DAY_MS) + 1) * DAY_MS;
    if (this.keepDays !== undefined) this.prune(now, this.keepDays);
  }

  /** The file reached `max_size`: it becomes `<…>.1<ext>` and a fresh file starts. */
  private overflow(): void {
    this.closeQuietly();
    renameSync(this.currentPath, overflowLogPath(this.currentPath));
    this.open();
  }

  private closeQuietly(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // the fd is gone either way
      }
    }
    this.fd = undefined;
  }

  /** Deletes this log's daily files (and their `.1` overflow) older than `keepDays` days; best effort. */
  private prune(now: number, keepDays: number): void {
    const dir = path.dirname(this.basePath);
    const ext = path.extname(this.basePath);
    const stem = path.basename(this.basePath, ext);
    const oldestDay = new Date(now - (keepDays - 1) * DAY_MS).toISOString().slice(0, 10);
    const pattern = new RegExp(`^${escape(stem)}\\.(\\d{4}-\\d{2}-\\d{2})(\\.1)?${escape(ext)}$`);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const day = pattern.exec(name)?.[1];
      if (day !== undefined && day < oldestDay) {
        try {
          unlinkSync(path.join(dir, name));
        } catch {
          // another process may have removed it; pruning is best effort
        }
      }
    }
  }
}

/** How long a write to a full stdout pipe may wait before the line is dropped. */
const STDOUT_EAGAIN_WAIT_MS = 2_000;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** Standard output as a log destination: a failed write (EPIPE, EAGAIN) drops the line, counted. */
export class StdoutLogSink implements LogSink {
  private readonly drops: DropTracker;

  constructor(
    private readonly fd = 1,
    now: () => number = Date.now,
  ) {
    // A broken stdout usually means stderr is gone too: count, never warn.
    this.drops = new DropTracker(now, () => undefined);
  }

  write(chunk: string): boolean {
    try {
      const buf = Buffer.from(chunk);
      let off = 0;
      let waitedMs = 0;
      while (off < buf.length) {
        try {
          off += writeSync(this.fd, buf, off, buf.length - off);
        } catch (error) {
          // A piped stdout is non-blocking: a full pipe is a wait (bounded), not a lost line.
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || waitedMs >= STDOUT_EAGAIN_WAIT_MS) throw error;
          Atomics.wait(SLEEPER, 0, 0, 1);
          waitedMs += 1;
        }
      }
      this.drops.droppedSinceOk = 0;
    } catch (error) {
      this.drops.failed(error, 'stdout');
    }
    return true;
  }

  end(): void {}

  stats(): LogSinkStats {
    return this.drops.stats('stdout');
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
