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
