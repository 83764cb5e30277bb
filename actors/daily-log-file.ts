/**
 * The log file as the contract names it (§12): `[log] path = /var/log/kanade/agent.log` writes
 * `agent.<YYYY-MM-DD>.log` (UTC day), a new file each day, and deletes files older than `keep_days`.
 * Writes are synchronous so a `fatal` line before exit is never lost.
 */
import { closeSync, mkdirSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

const DAY_MS = 86_400_000;

/** `<stem>.<date>.<ext>` for the UTC day of `epochMs`. */
export function dailyLogPath(basePath: string, epochMs: number): string {
  const ext = path.extname(basePath);
  const stem = basePath.slice(0, basePath.length - ext.length);
  return `${stem}.${new Date(epochMs).toISOString().slice(0, 10)}${ext}`;
}

/** A pino destination that rolls daily; `now` is injectable for tests. */
export class DailyLogFile {
  private fd: number | undefined;
  private dayEndsAt = 0;

  constructor(
    private readonly basePath: string,
    private readonly keepDays: number,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(path.dirname(basePath), { recursive: true, mode: 0o700 });
  }

  /** Appends one chunk (pino calls this with a whole line). */
  write(chunk: string): boolean {
    const now = this.now();
    if (this.fd === undefined || now >= this.dayEndsAt) this.roll(now);
    writeSync(this.fd as number, chunk);
    return true;
  }

  /** Closes the current file. */
  end(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private roll(now: number): void {
    this.end();
    // 0600: log lines name commands, paths and errors (private files, issue #13).
    this.fd = openSync(dailyLogPath(this.basePath, now), 'a', 0o600);
    this.dayEndsAt = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
    this.prune(now);
  }

  /** Deletes this log's daily files older than `keepDays` days; other files in the folder are left alone. */
  private prune(now: number): void {
    const dir = path.dirname(this.basePath);
    const ext = path.extname(this.basePath);
    const stem = path.basename(this.basePath, ext);
    const oldest = dailyLogPath(this.basePath, now - (this.keepDays - 1) * DAY_MS);
    const pattern = new RegExp(`^${escape(stem)}\\.(\\d{4}-\\d{2}-\\d{2})${escape(ext)}$`);
    for (const name of readdirSync(dir)) {
      if (pattern.test(name) && path.join(dir, name) < oldest) {
        try {
          unlinkSync(path.join(dir, name));
        } catch {
          // another process may have removed it; pruning is best effort
        }
      }
    }
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
