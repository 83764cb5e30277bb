/**
 * One fresh Wine prefix per test file (WINEDEBUG=-all, Windows 10 mode) and a way to run a Windows
 * program in it with its output in files (Wine's console handling of pipes is unreliable).
 * `wine` is installed by scripts/ensure-tools.mjs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WinePrefix {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Runs `exe args` to completion; stdout and stderr are read back from files. */
  run(exe: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Stops this prefix's wineserver and removes the prefix. */
  remove(): Promise<void>;
}

/** Creates the prefix and sets it to Windows 10 (`winecfg -v win10`). */
export async function createWinePrefix(): Promise<WinePrefix> {
  const dir = await mkdtemp(join(tmpdir(), 'kanade-wine-'));
  const env = { ...process.env, WINEPREFIX: dir, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  const cfg = spawnSync('winecfg', ['-v', 'win10'], { env, stdio: 'ignore' });
  if (cfg.status !== 0) throw new Error(`winecfg -v win10 failed (${cfg.error?.message ?? `exit ${cfg.status}`}); install wine (scripts/ensure-tools.mjs)`);
  let runs = 0;
  return {
    dir,
    env,
    async run(exe, args) {
      runs += 1;
      const outFile = join(dir, `out-${runs}.txt`);
      const errFile = join(dir, `err-${runs}.txt`);
      const [out, err] = await Promise.all([open(outFile, 'w'), open(errFile, 'w')]);
      try {
        const child = spawn('wine', [exe, ...args], { env, stdio: ['ignore', out.fd, err.fd] });
        const code = await new Promise<number | null>((resolve, reject) => {
          child.once('error', reject);
          child.once('exit', (c) => resolve(c));
        });
        return { code, stdout: await readFile(outFile, 'utf8'), stderr: await readFile(errFile, 'utf8') };
      } finally {
        await Promise.all([out.close(), err.close()]);
      }
    },
    async remove() {
      spawnSync('wineserver', ['-k'], { env, stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
