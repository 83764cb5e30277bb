/**
 * `kanade-agent dev` as a developer meets it: a private broker and the agent in the foreground,
 * `exec` from a second terminal reaches it, Ctrl-C stops both and leaves nothing running.
 */
import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { pickFreePort } from '../../actors/dev-broker/nats-server.js';
import { pollUntil } from '../harness/poll.js';
import { finished, runCli, spawnCli } from './run-cli.js';

/** True while something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describe('kanade-agent dev', () => {
  it('runs a private broker and the agent; exec reaches it; SIGINT stops both', async () => {
    const port = await pickFreePort();
    const dev = spawnCli(['dev', '--port', String(port), '--id', 'dev-spec', '--no-inspect']);
    try {
      await pollUntil('dev to print the exec hint', 20_000, () => dev.output.stderr.includes('send a command from another terminal'), 50);
      expect(dev.output.stderr).toContain(`exec --nats nats://127.0.0.1:${port} --token-file `);
      const tokenFile = /--token-file (\S+)/.exec(dev.output.stderr)?.[1] as string;
      // #13: the dev broker needs its random token; the token file is private to the developer.
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      expect(spawnSync('runuser', ['-u', 'nobody', '--', 'cat', tokenFile], { stdio: 'ignore' }).status).not.toBe(0);
      const { KANADE_NATS_TOKEN: _t, KANADE_NATS_USER: _u, KANADE_NATS_PASSWORD: _p, ...noCreds } = process.env;
      const anonymous = await runCli(['exec', '--nats', `nats://127.0.0.1:${port}`, '--pc', 'dev-spec', '--wait', '5', '--', 'id'], noCreds);
      expect(anonymous.code).toBe(2);
      expect(anonymous.stderr).toMatch(/cannot connect/);
      const run = await runCli(['exec', '--nats', `nats://127.0.0.1:${port}`, '--token-file', tokenFile, '--pc', 'dev-spec', '--wait', '20', '--', 'echo', 'hi from dev']);
      expect(run.stdout).toContain('--- dev-spec: exit 0');
      expect(run.stdout).toContain('hi from dev');
      expect(run.code).toBe(0);
    } finally {
      dev.kill('SIGINT');
    }
    const exit = await finished(dev);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('broker stopped');
    expect(await listening(port)).toBe(false);
  });
});
