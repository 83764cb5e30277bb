import { mkdtemp, rm, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlSocketInUseError, readControlSocket, startControlSocket } from '../../actors/control-socket.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kanade-ctl-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('control socket', () => {
  it('answers each connection with one JSON report and closes; the socket is mode 0600', async () => {
    let n = 0;
    const socketPath = join(dir, 'sub', 'a.sock');
    const socket = await startControlSocket({ path: socketPath, report: () => ({ n: ++n }) });
    try {
      expect(JSON.parse(await readControlSocket(socketPath))).toEqual({ n: 1 });
      expect(JSON.parse(await readControlSocket(socketPath))).toEqual({ n: 2 });
      expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    } finally {
      await socket.close();
    }
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('replaces a stale socket file left by a killed agent', async () => {
    const socketPath = join(dir, 'stale.sock');
    // A socket file nobody listens on, as a SIGKILLed agent leaves it.
    const holder = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect((await stat(socketPath)).isSocket()).toBe(true);
    const socket = await startControlSocket({ path: socketPath, report: () => ({ ok: true }) });
    try {
      expect(JSON.parse(await readControlSocket(socketPath))).toEqual({ ok: true });
    } finally {
      await socket.close();
    }
  });

  it('refuses to take over a socket another live process answers on', async () => {
    const socketPath = join(dir, 'live.sock');
    const first = await startControlSocket({ path: socketPath, report: () => ({ first: true }) });
    try {
      await expect(startControlSocket({ path: socketPath, report: () => ({}) })).rejects.toBeInstanceOf(ControlSocketInUseError);
      expect(JSON.parse(await readControlSocket(socketPath))).toEqual({ first: true });
    } finally {
      await first.close();
    }
  });

  it('reading a missing socket rejects with the OS error', async () => {
    await expect(readControlSocket(join(dir, 'nobody.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
