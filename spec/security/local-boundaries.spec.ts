/**
 * Issue #13 item 9 with the real agent process: credentials in `nats_url` stop it with exit 78
 * (without echoing them), and a control socket in a directory a local user could write or owns is
 * refused with 78 rather than listened on.
 */
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROCESS_EXIT_CONFIG } from '../../contract/index.js';
import { runCli } from '../cli/run-cli.js';
import { tempDir } from '../executor/harness.js';

describe('local boundaries (issue #13)', () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    root = await tempDir('kanade-local-');
  });
  afterAll(async () => {
    await root?.cleanup();
  });

  const config = async (name: string, url: string, socket: string) => {
    const file = path.join(root.dir, `${name}.toml`);
    await writeFile(
      file,
      [
        '[agent]',
        'id = "local-pc"',
        `nats_url = ${JSON.stringify(url)}`,
        `data_dir = ${JSON.stringify(path.join(root.dir, `${name}-data`))}`,
        '[log]',
        'level = "info"',
        'keep_days = 0',
        '[control]',
        `socket = ${JSON.stringify(socket)}`,
        '',
      ].join('\n'),
    );
    return file;
  };
  const run = (file: string) => runCli(['run', '--config', file], { ...process.env, KANADE_AGENT_DATA_DIR: '' });

  it('nats_url with user:password@ exits 78 naming the key, and never prints the password', async () => {
    const file = await config('userinfo', 'nats://admin:hunter2-secret@127.0.0.1:4222', path.join(root.dir, 'userinfo-data', 'agent.sock'));
    const result = await run(file);
    expect(result.code).toBe(PROCESS_EXIT_CONFIG);
    expect(result.stderr).toContain('[agent] nats_url');
    expect(result.stderr).toContain('without user:password@');
    expect(result.stdout + result.stderr).not.toContain('hunter2-secret');
    expect(result.stdout + result.stderr).not.toContain('admin');
  });

  it.each([
    ['writable by others', async (dir: string) => chmod(dir, 0o777)],
    ['owned by another user', async (dir: string) => chown(dir, 65534, 65534)],
  ])('a control socket directory %s exits 78 instead of listening', async (what, spoil) => {
    const socketDir = path.join(root.dir, `sock-${what.replace(/\W/g, '-')}`);
    await mkdir(socketDir, { mode: 0o700 });
    await spoil(socketDir);
    const file = await config(`sock-${what.replace(/\W/g, '-')}`, 'nats://127.0.0.1:1', path.join(socketDir, 'agent.sock'));
    const result = await run(file);
    expect(result.code).toBe(PROCESS_EXIT_CONFIG);
    expect(result.stderr).toContain(`[control] socket ${path.join(socketDir, 'agent.sock')}`);
    expect(result.stderr).toMatch(what === 'writable by others' ? /writable by group or others/ : /owned by uid 65534/);
  });
});
