import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, REDACT_CENSOR, REDACT_PATHS } from '../actors/logger.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-logger-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createLogger', () => {
  it('never writes NATS credentials, passwords or signatures', async () => {
    const file = path.join(dir, 'nested', 'agent.log');
    const log = createLogger({ level: 'info', destination: file, name: 'kanade-agent' });
    log.info({ credentials: { token: 's3cret-token', user: 'agent' } }, 'connecting');
    log.info({ password: 'pa55word' }, 'login');
    log.info({ conn: { token: 't0ken', credentials: { password: 'deep' } } }, 'nested');
    log.info({ msg: { headers: { 'Kanade-Sig': 'sig-bytes', 'Kanade-Key-Id': 'k1' } } }, 'intake');
    log.info({ headers: { 'Kanade-Sig': 'sig-top' } }, 'intake');

    const text = await readFile(file, 'utf8');
    for (const secret of ['s3cret-token', 'pa55word', 't0ken', 'deep', 'sig-bytes', 'sig-top']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain(REDACT_CENSOR);
    expect(text).toContain('"Kanade-Key-Id":"k1"');
    expect(text.trim().split('\n')).toHaveLength(5);
    expect(JSON.parse(text.split('\n')[0] ?? '')).toMatchObject({ name: 'kanade-agent', msg: 'connecting' });
  });

  it('respects the level', async () => {
    const file = path.join(dir, 'agent.log');
    const log = createLogger({ level: 'warn', destination: file });
    log.info('hidden');
    log.warn('shown');
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('hidden');
    expect(text).toContain('shown');
  });

  it('exports its redact paths', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['credentials', '*.password', 'headers["Kanade-Sig"]']));
  });
});

describe('daily log files (§12)', () => {
  it('writes <stem>.<date>.<ext>, rolls at the UTC day and keeps keep_days files', async () => {
    const { DailyLogFile, dailyLogPath } = await import('../actors/daily-log-file.js');
    const { readdir, writeFile } = await import('node:fs/promises');
    const base = path.join(dir, 'logs', 'agent.log');
    let now = Date.UTC(2026, 10, 27, 23, 59, 0);
    const file = new DailyLogFile(base, { keepDays: 2, now: () => now });
    await writeFile(path.join(dir, 'other.txt'), 'x'); // not ours, never pruned
    file.write('first\n');
    now += 2 * 60_000; // past midnight UTC
    file.write('second\n');
    now += 86_400_000; // a day later: the 27th is older than keep_days = 2
    file.write('third\n');
    file.end();
    expect(dailyLogPath(base, Date.UTC(2026, 10, 27))).toBe(path.join(dir, 'logs', 'agent.2026-11-27.log'));
    expect((await readdir(path.join(dir, 'logs'))).sort()).toEqual(['agent.2026-11-28.log', 'agent.2026-11-29.log']);
    expect(await readFile(path.join(dir, 'logs', 'agent.2026-11-28.log'), 'utf8')).toBe('second\n');
  });
});

describe('a log file that cannot be written (issue #14)', () => {
  it('caps a file at max_size: the full file becomes <name>.1 and a fresh one starts', async () => {
    const { DailyLogFile } = await import('../actors/daily-log-file.js');
    const { readdir, stat } = await import('node:fs/promises');
    const base = path.join(dir, 'agent.log');
    const file = new DailyLogFile(base, { keepDays: 2, maxSizeBytes: 4096, now: () => Date.UTC(2026, 10, 30, 12) });
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 100; i += 1) file.write(line); // 10 000 bytes through a 4 096-byte cap
    file.end();
    expect((await readdir(dir)).sort()).toEqual(['agent.2026-11-30.1.log', 'agent.2026-11-30.log']);
    for (const name of ['agent.2026-11-30.1.log', 'agent.2026-11-30.log'])
      expect((await stat(path.join(dir, name))).size).toBeLessThanOrEqual(4096);
  });

  it('drops lines while its directory is gone, warns once, recreates it and says how many were lost', async () => {
    const { DailyLogFile, LOG_RETRY_MS } = await import('../actors/daily-log-file.js');
    const base = path.join(dir, 'logs', 'agent.log');
    let now = 1_000_000;
    const warnings: string[] = [];
    const file = new DailyLogFile(base, { now: () => now, warn: (t) => warnings.push(t) });
    file.write('one\n');
    await rm(path.join(dir, 'logs'), { recursive: true });
    // The open fd still writes into the unlinked file; a rename of the dir away is what an operator does.
    const { writeFile: write } = await import('node:fs/promises');
    await write(path.join(dir, 'logs'), 'a file where the directory was');
    file.end();
    now += 1;
    expect(() => file.write('lost 1\n')).not.toThrow();
    file.write('lost 2\n');
    expect(file.stats()).toMatchObject({ writable: false, dropped_lines: 2, last_error: expect.stringMatching(/^(ENOTDIR|EEXIST)/) });
    expect(warnings).toHaveLength(1);
    await rm(path.join(dir, 'logs'));
    now += LOG_RETRY_MS;
    file.write('back\n');
    expect(file.stats()).toMatchObject({ writable: true, dropped_lines: 2 });
    const text = await readFile(base, 'utf8');
    expect(text).toContain('"msg":"2 log lines were dropped while the log file could not be written');
    expect(text.endsWith('back\n')).toBe(true);
  });

  it('writes ISO-8601 UTC times and level names', async () => {
    const file = path.join(dir, 'agent.log');
    createLogger({ level: 'info', destination: file }).warn('hello');
    const line = JSON.parse(await readFile(file, 'utf8')) as { time: string; level: string };
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(line.level).toBe('warn');
  });
});
