/** Issue #12: scripts/build-native.mjs cross-compiles native/*.c into Windows executables. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('scripts/build-native.mjs', () => {
  it('builds the service host as a 64-bit Windows console program', () => {
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs', 'kanade-service-host'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const exe = readFileSync(`${ROOT}build/native/kanade-service-host.exe`);
    expect(exe.subarray(0, 2).toString('latin1')).toBe('MZ');
    const pe = exe.readUInt32LE(0x3c);
    expect(exe.subarray(pe, pe + 4).toString('latin1')).toBe('PE\0\0');
    expect(exe.readUInt16LE(pe + 4)).toBe(0x8664); // IMAGE_FILE_MACHINE_AMD64
    // The SCM entry points it must import.
    expect(exe.includes(Buffer.from('StartServiceCtrlDispatcherW'))).toBe(true);
    expect(exe.includes(Buffer.from('AssignProcessToJobObject'))).toBe(true);
  });

  it('refuses an unknown source name', () => {
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs', 'no-such-program'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no-such-program');
  });
});
