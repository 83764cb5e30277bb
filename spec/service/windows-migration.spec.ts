/**
 * Issue #12 item 3: the Rust agent's service runs kanade-agent.exe directly. Started that way (not
 * under the host), the agent repoints the service at the host and exits non-zero. The SCM side
 * (restart through the failure actions) cannot run under Wine (`sc config` returns 1 there), so the
 * decision and the exact argv are checked here with a recording port (docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import type { RunResult, ServicePort } from '../../actors/service/apply-plan.js';
import { commandProgram, migrateDirectService } from '../../actors/service/windows-migration.js';

const EXE = 'C:\\Program Files\\Kanade\\kanade-agent.exe';
const env = { ProgramFiles: 'C:\\Program Files', ProgramData: 'C:\\ProgramData' };
const regOutput = (imagePath: string) =>
  `\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\KanadeAgent\r\n    ImagePath    REG_EXPAND_SZ    ${imagePath}\r\n\r\n`;

function port(answers: Record<string, RunResult>) {
  const calls: string[][] = [];
  const copies: string[] = [];
  const p: ServicePort = {
    run: async (argv) => {
      calls.push([...argv]);
      return answers[argv[0] === 'reg' ? 'reg' : argv.slice(0, 2).join(' ')] ?? { code: 0, stdout: '', stderr: '' };
    },
    exists: async () => false,
    mkdir: async () => undefined,
    writeFile: async () => undefined,
    copyFile: async (from, to) => void copies.push(`${from} -> ${to}`),
    remove: async () => undefined,
    rmdirIfEmpty: async () => undefined,
    sleep: async () => undefined,
  };
  return { p, calls, copies };
}

describe('migration from a service that runs kanade-agent.exe directly', () => {
  it('reads the program of a command line', () => {
    expect(commandProgram(`"${EXE}" --config x`)).toBe(EXE);
    expect(commandProgram('C:\\k\\kanade-agent.exe --config x')).toBe('C:\\k\\kanade-agent.exe');
  });

  it('repoints the service at the host, keeping the original command line, and sets the failure actions', async () => {
    const imagePath = `"${EXE}" --config "C:\\x y\\agent.toml"`;
    const { p, calls, copies } = port({ reg: { code: 0, stdout: regOutput(imagePath), stderr: '' } });
    const out = await migrateDirectService({
      env,
      self: { kind: 'exe', path: EXE.toLowerCase() },
      port: p,
      hostSource: 'C:\\Temp\\kanade-service-host.exe',
      print: () => undefined,
    });
    const binPath = `"C:\\Program Files\\Kanade\\kanade-service-host.exe" --log C:\\ProgramData\\Kanade\\logs\\kanade-agent.service.log ${imagePath}`;
    expect(out).toEqual({ kind: 'migrated', imagePath, binPath });
    expect(copies).toEqual(['C:\\Temp\\kanade-service-host.exe -> C:\\Program Files\\Kanade\\kanade-service-host.exe']);
    expect(calls.slice(1)).toEqual([
      ['sc.exe', 'config', 'KanadeAgent', 'binPath=', binPath],
      ['sc.exe', 'description', 'KanadeAgent', 'kanade endpoint agent (runs kanade-agent.exe through kanade-service-host.exe)'],
      ['sc.exe', 'failure', 'KanadeAgent', 'reset=', '86400', 'actions=', 'restart/5000/restart/15000/restart/60000'],
      ['sc.exe', 'failureflag', 'KanadeAgent', '1'],
    ]);
  });

  it.each([
    ['under the host', { ...env, KANADE_AGENT_STOP_ON_STDIN_EOF: '1' }, EXE, regOutput(`"${EXE}"`)],
    ['the service runs the host already', env, EXE, regOutput(`"C:\\Program Files\\Kanade\\kanade-service-host.exe" --log x "${EXE}"`)],
    ['no KanadeAgent service', env, EXE, ''],
    ['another copy of the executable', env, 'D:\\other\\kanade-agent.exe', regOutput(`"${EXE}"`)],
  ])('does nothing %s', async (_what, e, self, reg) => {
    const { p, calls } = port({ reg: { code: reg === '' ? 1 : 0, stdout: reg, stderr: '' } });
    expect(
      await migrateDirectService({ env: e, self: { kind: 'exe', path: self }, port: p, hostSource: 'C:\\h.exe', print: () => undefined }),
    ).toEqual({ kind: 'not-needed' });
    expect(calls.filter((c) => c[0] === 'sc.exe')).toEqual([]);
  });

  it('reports a failed sc config (the agent then runs on and says so)', async () => {
    const { p } = port({
      reg: { code: 0, stdout: regOutput(`"${EXE}"`), stderr: '' },
      'sc.exe config': { code: 5, stdout: '', stderr: 'Access is denied.' },
    });
    const out = await migrateDirectService({
      env,
      self: { kind: 'exe', path: EXE },
      port: p,
      hostSource: 'C:\\h.exe',
      print: () => undefined,
    });
    expect(out.kind).toBe('failed');
    expect(out.kind === 'failed' && out.error).toContain('Access is denied.');
  });

  it('fails without a host to install', async () => {
    const { p } = port({ reg: { code: 0, stdout: regOutput(`"${EXE}"`), stderr: '' } });
    const out = await migrateDirectService({ env, self: { kind: 'exe', path: EXE }, port: p, print: () => undefined });
    expect(out).toMatchObject({ kind: 'failed', error: expect.stringContaining('no service host') });
  });
});
