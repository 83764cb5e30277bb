/** The systemd `Restart=on-failure` stand-in (spec/harness/restart-on-failure.mjs) behaves like the unit keys it mirrors. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const STAND_IN = fileURLToPath(new URL('./restart-on-failure.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  events: Array<Record<string, unknown>>;
}

function run(args: string[], onStdout?: (text: string, kill: () => void) => void): Promise<Run> {
  const child = spawn(process.execPath, [STAND_IN, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  let stdout = '';
  let buf = '';
  const events: Array<Record<string, unknown>> = [];
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
    onStdout?.(stdout, () => child.kill('SIGTERM'));
  });
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
    buf += c.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const e = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      events.push(e);
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, events })));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-rof-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('restart-on-failure stand-in', () => {
  it('restarts on a failure exit (64 included) and stops on exit 0', async () => {
    const counter = join(dir, 'count');
    await writeFile(counter, '');
    // Exits 64, then 1, then 0: two restarts.
    const script = `const fs=require('fs');const n=fs.readFileSync(${JSON.stringify(counter)},'utf8').length;fs.appendFileSync(${JSON.stringify(counter)},'x');process.exit([64,1,0][n])`;
    const r = await run(['--', process.execPath, '-e', script]);
    expect(r.code).toBe(0);
    expect(r.events.filter((e) => e.event === 'started')).toHaveLength(3);
    expect(r.events.filter((e) => e.event === 'exited').map((e) => e.code)).toEqual([64, 1, 0]);
  });

  it('does not restart an exit code in RestartPreventExitStatus, and takes keys and env from a unit', async () => {
    const envFile = join(dir, 'agent.env');
    await writeFile(envFile, '# comment\nFROM_FILE="file value"\n');
    const unit = join(dir, 'x.service');
    await writeFile(
      unit,
      [
        '[Service]',
        `EnvironmentFile=-${envFile}`,
        `EnvironmentFile=-${join(dir, 'missing.env')}`,
        'Environment=FROM_UNIT=unit',
        'RestartSec=0',
        'RestartPreventExitStatus=78',
        '',
      ].join('\n'),
    );
    const r = await run([
      '--unit',
      unit,
      '--',
      process.execPath,
      '-e',
      'console.log(process.env.FROM_FILE + "|" + process.env.FROM_UNIT); process.exit(78)',
    ]);
    expect(r.code).toBe(78);
    expect(r.stdout.trim()).toBe('file value|unit');
    expect(r.events.filter((e) => e.event === 'started')).toHaveLength(1);
  });

  it('SIGTERM stops the child with SIGTERM and exits 0', async () => {
    const r = await run(
      [
        '--',
        process.execPath,
        '-e',
        'process.on("SIGTERM",()=>{console.log("graceful");process.exit(0)});console.log("ready");setInterval(()=>{},1000)',
      ],
      (text, kill) => {
        if (text === 'ready\n') kill();
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('graceful');
    expect(r.events.at(-1)).toEqual({ event: 'done', code: 0 });
  });
});
