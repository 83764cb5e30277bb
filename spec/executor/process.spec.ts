/** The process runner (§8.3–§8.5): exit codes, tree kill, capture cap, lossy UTF-8, PowerShell staging (fake pwsh). */
import { access, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_CAPTURE_BYTES, truncationMarker } from '../../contract/index.js';
import { OutputCapture } from '../../actors/exec/output-capture.js';
import { launcherScript, shellInvocation, stagingDirFor, startProcess } from '../../actors/exec/run-process.js';
import { alive, pollUntil } from './harness.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

describe('process runner', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('reports the real exit code and both streams', async () => {
    const proc = await startProcess({ shell: 'sh', script: 'printf out; printf err >&2; exit 42' });
    expect(await proc.done).toEqual({ kind: 'exited', exitCode: 42, stdout: 'out', stderr: 'err' });
  });

  it('runs in cwd with the agent environment', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-cwd-'));
    dirs.push(dir);
    const proc = await startProcess({
      shell: 'sh',
      script: 'pwd; echo "$KANADE_TEST_VAR"',
      cwd: dir,
      env: { ...process.env, KANADE_TEST_VAR: 'v1' },
    });
    const outcome = await proc.done;
    expect(outcome.kind === 'exited' && outcome.stdout).toBe(`${await import('node:fs/promises').then((fs) => fs.realpath(dir))}\nv1\n`);
  });

  it('a spawn failure is reported, not thrown', async () => {
    const proc = await startProcess({ shell: 'cmd', script: 'echo hi' });
    const outcome = await proc.done;
    expect(outcome.kind).toBe('spawnFailed');
    expect(outcome.kind === 'spawnFailed' && outcome.error).toContain('ENOENT');
  });

  it('a missing cwd is reported as such, not as a missing shell', async () => {
    const proc = await startProcess({ shell: 'sh', script: 'true', cwd: '/nonexistent/kanade' });
    expect(await proc.done).toEqual({ kind: 'spawnFailed', error: 'cwd /nonexistent/kanade is not an existing directory' });
  });

  it('kill ends the whole process group, grandchildren included', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-kill-'));
    dirs.push(dir);
    const pidFile = path.join(dir, 'grandchild.pid');
    const proc = await startProcess({ shell: 'sh', script: `sleep 300 & echo $! > ${pidFile}; wait` });
    const grandchild = await pollUntil('grandchild pid', 5_000, async () => {
      const text = await readFile(pidFile, 'utf8').catch(() => '');
      return text.trim() ? Number(text.trim()) : undefined;
    });
    expect(alive(grandchild)).toBe(true);
    proc.kill();
    const outcome = await proc.done;
    expect(outcome.kind).toBe('exited');
    await pollUntil('grandchild gone', 7_000, () => !alive(grandchild));
  });

  it('caps 20 MiB of output at MAX_CAPTURE_BYTES with head 2/3, tail 1/3 and the §8.5 marker', async () => {
    const total = 20 * 1024 * 1024;
    const proc = await startProcess({ shell: 'sh', script: `head -c ${total - 4} /dev/zero | tr '\\0' a; printf tail` });
    const outcome = await proc.done;
    if (outcome.kind !== 'exited') throw new Error('did not run');
    const head = Math.floor((MAX_CAPTURE_BYTES * 2) / 3);
    const tail = MAX_CAPTURE_BYTES - head;
    const marker = truncationMarker(total, total - head - tail, head, tail);
    expect(marker).toBe(
      `[kanade] output truncated: ${total} bytes written, ${total - MAX_CAPTURE_BYTES} dropped (kept the first ${head} and last ${tail}).\n[kanade] write large output to a file instead of stdout/stderr.\n`,
    );
    expect(outcome.stdout.length).toBe(MAX_CAPTURE_BYTES + 1 + marker.length);
    expect(outcome.stdout.slice(head, head + 1 + marker.length)).toBe(`\n${marker}`);
    expect(outcome.stdout.endsWith('atail')).toBe(true);
  });

  it('decodes invalid UTF-8 lossily', async () => {
    const proc = await startProcess({ shell: 'sh', script: "printf 'ok\\377\\376end'" });
    const outcome = await proc.done;
    expect(outcome.kind === 'exited' && outcome.stdout).toBe('ok\uFFFD\uFFFDend');
  });

  it('OutputCapture keeps everything under the cap and splits head/tail over it', () => {
    const small = new OutputCapture(30);
    small.push(Buffer.from('0123456789'));
    expect(small.text()).toBe('0123456789');
    const capped = new OutputCapture(30);
    for (let i = 0; i < 10; i += 1) capped.push(Buffer.from('abcdefghij'));
    expect(capped.text()).toBe(`abcdefghijabcdefghij\n${truncationMarker(100, 70, 20, 10)}abcdefghij`);
  });

  it('stages PowerShell scripts (BOM + UTF-8 launcher) and runs pwsh without -ExecutionPolicy off Windows (fake pwsh)', async () => {
    const bin = await mkdtemp(path.join(os.tmpdir(), 'kanade-fakebin-'));
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'kanade-staging-'));
    dirs.push(bin, tmp);
    await symlink(path.join(FIXTURES, 'fake-pwsh'), path.join(bin, 'pwsh'));
    const log = path.join(bin, 'argv.log');
    const script = 'Write-Output "héllo"\nexit 7';
    const proc = await startProcess({
      shell: 'powershell',
      script,
      env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, FAKE_PWSH_LOG: log, TMPDIR: tmp },
      stagingRoot: tmp,
    });
    const outcome = await proc.done;
    expect(outcome).toEqual({ kind: 'exited', exitCode: 7, stdout: 'fake pwsh ran\n', stderr: '' });
    const argv = (await readFile(log, 'utf8')).trimEnd().split('\n');
    expect(argv.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-File']);
    expect(argv).toHaveLength(4);
    const launcher = argv[3]!;
    expect(path.basename(launcher)).toBe('launcher.ps1');
    expect(path.basename(path.dirname(launcher))).toMatch(/^kanade-agent-[0-9a-f-]{36}$/);
    const scriptBytes = await readFile(`${log}.script`);
    expect([...scriptBytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(scriptBytes.subarray(3).toString('utf8')).toBe(script);
    const launcherBytes = await readFile(`${log}.launcher`);
    expect([...launcherBytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const launcherText = launcherBytes.subarray(3).toString('utf8');
    expect(launcherText).toBe(launcherScript(path.join(path.dirname(launcher), 'script.ps1')));
    expect(launcherText).toContain('[Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)');
    expect(launcherText).toContain(`& '${path.join(path.dirname(launcher), 'script.ps1')}' @args`);
    // The staging directory is deleted after the run.
    await expect(access(path.dirname(launcher))).rejects.toThrow();
  });

  it('builds the Windows invocations of §8.3 (verified only as argv: no Windows host here)', () => {
    expect(shellInvocation('powershell', 's', 'win32', 'C:\\L\\launcher.ps1')).toEqual({
      file: 'powershell.exe',
      args: ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', 'C:\\L\\launcher.ps1'],
    });
    expect(shellInvocation('pwsh', 's', 'win32', 'L')).toEqual({
      file: 'pwsh.exe',
      args: ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', 'L'],
    });
    expect(shellInvocation('powershell', 's', 'linux', 'L')).toEqual({
      file: 'pwsh',
      args: ['-NoProfile', '-NonInteractive', '-File', 'L'],
    });
    expect(shellInvocation('cmd', 'echo hi', 'win32')).toEqual({ file: 'cmd.exe', args: ['/C', 'echo hi'] });
    expect(shellInvocation('sh', 'echo hi', 'linux')).toEqual({ file: 'sh', args: ['-c', 'echo hi'] });
    expect(stagingDirFor('win32', { ProgramData: 'C:\\ProgramData' }, 'u1')).toBe('C:\\ProgramData\\Kanade\\agent-scripts\\u1');
    expect(stagingDirFor('darwin', {}, 'u1')).toBe('/Library/Application Support/Kanade/agent-scripts/u1');
    expect(stagingDirFor('linux', {}, 'u1')).toBe(path.join(os.tmpdir(), 'kanade-agent-u1'));
  });
});
