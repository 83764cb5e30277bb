/**
 * `kanade-agent dev` as a developer meets it (issue #14): a private broker and the agent in the
 * foreground; the printed `status` and `exec` commands work as printed from a second terminal (no
 * flags); `exec` exits with the script's exit code, returns once the expected PCs answered, and a
 * run can be stopped with `kanade-agent kill`; Ctrl-C stops both and leaves nothing running.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pickFreePort } from '../../devtools/dev-broker/nats-server.js';
import { pollUntil } from '../harness/poll.js';
import { finished, runCli, spawnCli } from './run-cli.js';

/** One developer session end to end (broker, agent, five CLI round trips, a 25 s run killed) on a loaded 2-core machine. */
const DEV_FLOW_TIMEOUT_MS = 150_000;

/** True while something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('kanade-agent dev', () => {
  it(
    'prints the exact status/exec commands, which then work without flags; exec exit codes, --expect and kill',
    async () => {
      const port = await pickFreePort();
      // A private TMPDIR: the dev pointer of this test, not of another dev running on the machine.
      const home = await mkdtemp(join(tmpdir(), 'kanade-dev-spec-'));
      const { KANADE_NATS_TOKEN: _t, KANADE_NATS_USER: _u, KANADE_NATS_PASSWORD: _p, ...noCreds } = process.env;
      const env = { ...noCreds, TMPDIR: home, KANADE_AGENT_CONFIG: '', KANADE_AGENT_DATA_DIR: '' };
      const dev = spawnCli(['dev', '--port', String(port), '--id', 'dev-spec', '--no-inspect'], env);
      try {
        await pollUntil('dev to print the commands', 20_000, () => dev.output.stderr.includes('Ctrl-C stops'), 50);
        expect(dev.output.stderr).toContain(
          "from another terminal (they find this dev agent and its broker token by themselves):\n  npx kanade-agent status\n  npx kanade-agent exec --pc dev-spec -- 'echo hi'\n",
        );
        expect(dev.output.stdout + dev.output.stderr).not.toContain('[log] path is missing');

        // #13: the dev broker needs its random token; the token file is private to the developer, and
        // the pointer that status/exec read names that file, never the token.
        const pointerText = await readFile(join(home, `kanade-agent-dev-${process.getuid?.() ?? 'user'}.json`), 'utf8');
        const tokenFile = (JSON.parse(pointerText) as { token_file: string }).token_file;
        expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
        const token = (await readFile(tokenFile, 'utf8')).trim();
        expect(token.length).toBeGreaterThan(20);
        expect(pointerText).not.toContain(token);
        expect(dev.output.stderr).not.toContain(token);
        expect(spawnSync('runuser', ['-u', 'nobody', '--', 'cat', tokenFile], { stdio: 'ignore' }).status).not.toBe(0);
        const anonymous = await runCli(['exec', '--nats', `nats://127.0.0.1:${port}`, '--pc', 'dev-spec', '--wait', '5', '--', 'id'], env);
        expect(anonymous.code).toBe(69);
        expect(anonymous.stderr).toMatch(/cannot connect/);
        const explicit = await runCli(
          [
            'exec',
            '--nats',
            `nats://127.0.0.1:${port}`,
            '--token-file',
            tokenFile,
            '--pc',
            'dev-spec',
            '--wait',
            '20',
            '--',
            'echo',
            'explicit',
          ],
          env,
        );
        expect(explicit.stdout).toContain('--- dev-spec: exit 0');
        expect(explicit.code).toBe(0);

        await pollUntil('status healthy', 20_000, async () => (await runCli(['status'], env)).code === 0, 200);
        const status = await runCli(['status'], env);
        expect(status.stdout).toContain('pc_id dev-spec');

        // No flags and no KANADE_NATS_TOKEN: exec finds the dev broker and its token file.
        const run = await runCli(['exec', '--pc', 'dev-spec', '--wait', '20', '--', 'echo hi from dev; exit 3'], env);
        expect(run.stdout).toContain('--- dev-spec: exit 3');
        expect(run.stdout).toContain('hi from dev');
        expect(run.code).toBe(3);

        // A broadcast with --expect returns when that many answered: with a one-hour --wait, only the
        // early return lets it finish inside the test's own timeout.
        const all = await runCli(['exec', '--all', '--expect', '1', '--wait', '3600', '--', 'true'], env);
        expect(all.code).toBe(0);

        // The agent arms kill.<exec_id> before it spawns the script, so the script's marker proves it is armed.
        const marker = join(home, 'kill-run-started');
        const long = spawnCli(
          ['exec', '--pc', 'dev-spec', '--exec-id', 'dev-kill-1', '--wait', '30', '--', `touch ${marker}; sleep 25`],
          env,
        );
        await pollUntil('the run to start', 15_000, () => existsSync(marker), 50);
        const kill = await runCli(['kill', 'dev-kill-1'], env);
        expect(kill.code).toBe(0);
        expect(kill.stderr).toContain('sent kill.dev-kill-1');
        const killed = await finished(long);
        expect(killed.code).toBe(137);
        expect(killed.stderr).toContain('killed by remote signal (kill.dev-kill-1)');
      } finally {
        dev.kill('SIGINT');
      }
      const exit = await finished(dev);
      expect(exit.code).toBe(0);
      expect(exit.stderr).toContain('broker stopped');
      expect(await listening(port)).toBe(false);
      await rm(home, { recursive: true, force: true });
    },
    DEV_FLOW_TIMEOUT_MS,
  );
});
