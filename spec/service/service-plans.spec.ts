/**
 * Issue #12: what `service install|uninstall` would do on each OS, checked as data (argv and file
 * contents) through the plans and a recording fake port. Wine cannot act on `sc failure`,
 * `sc failureflag` or `sc config`, so their argv are verified here (docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import { applyPlan, type RunResult, type ServicePort } from '../../actors/service/apply-plan.js';
import { LAUNCHD_PLIST_PATH, launchdInstallPlan, launcherScript, renderLaunchdPlist } from '../../actors/service/launchd-service.js';
import { checkServiceManager, gatherFacts, installPlan, uninstallPlan } from '../../actors/service/service-manager.js';
import type { ServiceFacts, Step } from '../../actors/service/service-plan.js';
import {
  renderSystemdUnit,
  systemdInstallPlan,
  systemdUninstallPlan,
  systemdWord,
  SYSTEMD_UNIT_PATH,
} from '../../actors/service/systemd-service.js';
import {
  windowsArg,
  windowsBinPath,
  windowsInstallPlan,
  windowsLayout,
  windowsUninstallPlan,
  type WindowsFacts,
} from '../../actors/service/windows-service.js';

const runs = (steps: readonly Step[]) => steps.flatMap((s) => (s.op === 'run' ? [s.argv.join(' ')] : []));
const writes = (steps: readonly Step[]) => steps.flatMap((s) => (s.op === 'write' ? [s.path] : []));

const exeFacts: ServiceFacts = {
  self: { kind: 'exe', path: '/tmp/dl/kanade-agent' },
  configPath: '/etc/kanade/agent.toml',
  configExists: false,
  installed: false,
};

describe('systemd', () => {
  it('the unit has exactly the keys of the issue, and the exit-code rules', () => {
    const unit = renderSystemdUnit({ kind: 'exe', path: '/usr/local/bin/kanade-agent' }, '/etc/kanade/agent.toml');
    const keys = unit.split('\n').filter((l) => /^\w+=/.test(l));
    expect(keys).toEqual([
      'Description=kanade endpoint agent',
      'After=network-online.target',
      'Wants=network-online.target',
      'StartLimitIntervalSec=0',
      'Type=exec',
      'EnvironmentFile=-/etc/kanade/agent.env',
      'Environment=KANADE_AGENT_DATA_DIR=/var/lib/kanade-agent',
      'ExecStart=/usr/local/bin/kanade-agent run --config /etc/kanade/agent.toml',
      'WorkingDirectory=/var/lib/kanade-agent',
      'Restart=on-failure',
      'RestartSec=5',
      'RestartPreventExitStatus=78',
      'KillMode=mixed',
      'TimeoutStopSec=15',
      'UMask=0077',
      'WantedBy=multi-user.target',
    ]);
    // StartLimitIntervalSec belongs in [Unit] (systemd ignores it in [Service]).
    expect(unit.indexOf('StartLimitIntervalSec')).toBeLessThan(unit.indexOf('[Service]'));
  });

  it.each([
    ['/usr/bin/x', '/usr/bin/x'],
    ['/opt/my dir/x', '"/opt/my dir/x"'],
    ['100%', '100%%'],
    ['$HOME', '$$HOME'],
    ['a"b', '"a\\"b"'],
  ])('ExecStart word %s → %s', (word, expected) => {
    expect(systemdWord(word)).toBe(expected);
  });

  it('install: copies the executable, writes the example config only when missing, reloads, enables --now', () => {
    const plan = systemdInstallPlan(exeFacts);
    expect(plan.steps).toContainEqual({ op: 'copy', from: '/tmp/dl/kanade-agent', to: '/usr/local/bin/kanade-agent', mode: 0o755 });
    expect(plan.steps).toContainEqual(
      expect.objectContaining({ op: 'write', path: '/etc/kanade/agent.toml', mode: 0o600, onlyIfMissing: true }),
    );
    expect(plan.steps).toContainEqual({ op: 'mkdir', path: '/var/lib/kanade-agent', mode: 0o700 });
    expect(writes(plan.steps)).toContain(SYSTEMD_UNIT_PATH);
    expect(runs(plan.steps)).toEqual(['systemctl daemon-reload', 'systemctl enable --now kanade-agent.service']);
    expect(plan.summary).toContain('install');
  });

  it('a second install upgrades in place: config kept, the running service restarted', () => {
    const plan = systemdInstallPlan({ ...exeFacts, installed: true, configExists: true });
    expect(writes(plan.steps)).toEqual([SYSTEMD_UNIT_PATH]);
    expect(runs(plan.steps)).toEqual([
      'systemctl daemon-reload',
      'systemctl enable --now kanade-agent.service',
      'systemctl restart kanade-agent.service',
    ]);
    expect(plan.summary).toContain('upgrade');
  });

  it('uninstall keeps data and logs unless --purge, never the config', () => {
    const keep = systemdUninstallPlan(exeFacts, false);
    expect(runs(keep.steps)[0]).toBe('systemctl disable --now kanade-agent.service');
    expect(keep.steps.filter((s) => s.op === 'remove').map((s) => (s as { path: string }).path)).toEqual([
      SYSTEMD_UNIT_PATH,
      '/usr/local/bin/kanade-agent',
    ]);
    const purge = systemdUninstallPlan(exeFacts, true);
    expect(purge.steps).toContainEqual({ op: 'remove', path: '/var/lib/kanade-agent', recursive: true });
    expect(purge.steps).toContainEqual({ op: 'remove', path: '/var/log/kanade', recursive: true });
    expect(JSON.stringify(purge.steps)).not.toContain('"path":"/etc/kanade');
  });
});

describe('launchd', () => {
  it('plist: KeepAlive.SuccessfulExit=false, ThrottleInterval 10, env file read as data', () => {
    const plist = renderLaunchdPlist({ kind: 'exe', path: '/usr/local/bin/kanade-agent' }, '/etc/kanade/agent.toml');
    expect(plist).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key><false\/>/);
    expect(plist).toContain('<key>ThrottleInterval</key><integer>10</integer>');
    expect(plist).toContain('<key>Label</key><string>com.kanade.agent</string>');
    const script = launcherScript(['/usr/local/bin/kanade-agent', 'run', '--config', "/etc/it's.toml"]);
    expect(script).toContain(`KANADE_NATS_TOKEN="$(sed -n 's/^KANADE_NATS_TOKEN=//p' '/etc/kanade/agent.env' 2>/dev/null | head -n 1)"`);
    expect(script).not.toMatch(/(^|\s)(\.|source)\s/); // never sourced
    expect(script.endsWith(`exec '/usr/local/bin/kanade-agent' 'run' '--config' '/etc/it'\\''s.toml'`)).toBe(true);
  });

  it('install bootstraps into the system domain; an upgrade boots the old job out first', () => {
    expect(runs(launchdInstallPlan(exeFacts).steps)).toEqual([
      'launchctl enable system/com.kanade.agent',
      `launchctl bootstrap system ${LAUNCHD_PLIST_PATH}`,
    ]);
    expect(runs(launchdInstallPlan({ ...exeFacts, installed: true }).steps)[0]).toBe('launchctl bootout system/com.kanade.agent');
  });
});

describe('Windows', () => {
  const layout = windowsLayout({ ProgramFiles: 'C:\\Program Files', ProgramData: 'C:\\ProgramData' });
  const facts: WindowsFacts = {
    self: { kind: 'exe', path: 'C:\\Users\\a\\Downloads\\kanade-agent.exe' },
    configPath: 'C:\\ProgramData\\Kanade\\config\\agent.toml',
    configExists: true,
    installed: false,
    layout,
    hostSource: 'C:\\Users\\a\\Downloads\\kanade-service-host.exe',
  };
  const binPath =
    '"C:\\Program Files\\Kanade\\kanade-service-host.exe" --log C:\\ProgramData\\Kanade\\logs\\kanade-agent.service.log "C:\\Program Files\\Kanade\\kanade-agent.exe" run --config C:\\ProgramData\\Kanade\\config\\agent.toml';

  it('the service points at the host, which runs the agent', () => {
    expect(windowsBinPath(layout, { kind: 'exe', path: layout.agentExe }, facts.configPath)).toBe(binPath);
    expect(windowsArg('C:\\a b\\')).toBe('"C:\\a b\\\\"');
    expect(windowsArg('say "hi"')).toBe('"say \\"hi\\""');
  });

  it('install: files into Program Files, sc create → host, failure actions, failureflag, description, start', () => {
    const plan = windowsInstallPlan(facts);
    expect(plan.steps).toContainEqual({
      op: 'copy',
      from: facts.self.kind === 'exe' ? facts.self.path : '',
      to: 'C:\\Program Files\\Kanade\\kanade-agent.exe',
      mode: 0o755,
    });
    expect(plan.steps).toContainEqual({
      op: 'copy',
      from: facts.hostSource,
      to: 'C:\\Program Files\\Kanade\\kanade-service-host.exe',
      mode: 0o755,
    });
    const argv = plan.steps.flatMap((s) => (s.op === 'run' ? [s.argv] : []));
    expect(argv).toEqual([
      ['sc.exe', 'create', 'KanadeAgent', 'binPath=', binPath, 'start=', 'auto', 'DisplayName=', 'Kanade Agent'],
      ['sc.exe', 'description', 'KanadeAgent', 'kanade endpoint agent (runs kanade-agent.exe through kanade-service-host.exe)'],
      ['sc.exe', 'failure', 'KanadeAgent', 'reset=', '86400', 'actions=', 'restart/5000/restart/15000/restart/60000'],
      ['sc.exe', 'failureflag', 'KanadeAgent', '1'],
      ['sc.exe', 'start', 'KanadeAgent'],
    ]);
    expect(writes(plan.steps)).toEqual([]); // the config existed
  });

  it('upgrade: stops and waits first; repoints only when the ImagePath differs (the Rust agent service)', () => {
    const same = windowsInstallPlan({ ...facts, installed: true, imagePath: binPath });
    expect(runs(same.steps)[0]).toBe('sc.exe stop KanadeAgent');
    expect(same.steps[1]).toMatchObject({ op: 'waitFor', argv: ['sc.exe', 'query', 'KanadeAgent'] });
    expect(runs(same.steps).some((r) => r.startsWith('sc.exe config') || r.startsWith('sc.exe create'))).toBe(false);
    const rust = windowsInstallPlan({ ...facts, installed: true, imagePath: '"C:\\Program Files\\Kanade\\kanade-agent.exe"' });
    expect(rust.steps).toContainEqual({
      op: 'run',
      argv: ['sc.exe', 'config', 'KanadeAgent', 'binPath=', binPath, 'start=', 'auto'],
      onFail: 'abort',
    });
  });

  it('uninstall: stop, delete (1060 = already gone), remove the program files, keep ProgramData unless --purge', () => {
    const plan = windowsUninstallPlan(facts, false);
    expect(plan.steps).toContainEqual({ op: 'run', argv: ['sc.exe', 'delete', 'KanadeAgent'], onFail: 'abort', okCodes: [0, 1060] });
    expect(plan.steps.some((s) => s.op === 'remove' && s.path.startsWith('C:\\ProgramData'))).toBe(false);
    expect(windowsUninstallPlan(facts, true).steps).toContainEqual({
      op: 'remove',
      path: 'C:\\ProgramData\\Kanade\\data',
      recursive: true,
    });
  });
});

/** A port that records effects and answers `run` from a table. */
function fakePort(files: Set<string>, answers: Record<string, RunResult> = {}) {
  const log: string[] = [];
  const port: ServicePort = {
    run: async (argv) => {
      log.push(`run ${argv.join(' ')}`);
      return answers[argv.join(' ')] ?? { code: 0, stdout: '', stderr: '' };
    },
    exists: async (p) => files.has(p),
    mkdir: async (p) => void log.push(`mkdir ${p}`),
    writeFile: async (p) => {
      files.add(p);
      log.push(`write ${p}`);
    },
    copyFile: async (_f, t) => void log.push(`copy ${t}`),
    remove: async (p) => {
      files.delete(p);
      log.push(`remove ${p}`);
    },
    rmdirIfEmpty: async () => undefined,
    sleep: async () => undefined,
  };
  return { port, log };
}

describe('applying a plan', () => {
  it('without systemd running, the check fails before anything is written', async () => {
    const { port, log } = fakePort(new Set());
    expect(await checkServiceManager('systemd', port, true)).toMatch(/systemd is not running/);
    expect(log.filter((l) => !l.startsWith('run '))).toEqual([]);
  });

  it('needs root on Linux', async () => {
    const { port } = fakePort(new Set(['/run/systemd/system']));
    expect(await checkServiceManager('systemd', port, false)).toMatch(/needs root/);
    expect(await checkServiceManager('systemd', port, true)).toBeUndefined();
  });

  it('install twice: the second run writes no config and upgrades; an aborting step stops the plan', async () => {
    const files = new Set(['/run/systemd/system']);
    const { port, log } = fakePort(files);
    const req = { target: 'systemd' as const, self: exeFacts.self, env: {} };
    const first = await applyPlan(installPlan('systemd', await gatherFacts(req, port)), port, () => undefined);
    expect(first.ok).toBe(true);
    expect(log).toContain('write /etc/kanade/agent.toml');
    log.length = 0;
    const second = await applyPlan(installPlan('systemd', await gatherFacts(req, port)), port, () => undefined);
    expect(second.ok).toBe(true);
    expect(log).not.toContain('write /etc/kanade/agent.toml');
    expect(log).toContain('run systemctl restart kanade-agent.service');

    const failing = fakePort(files, { 'systemctl daemon-reload': { code: 1, stdout: '', stderr: 'Access denied' } });
    const out = await applyPlan(installPlan('systemd', await gatherFacts(req, failing.port)), failing.port, () => undefined);
    expect(out).toMatchObject({ ok: false });
    expect(out.failed).toContain('Access denied');
    expect(failing.log).not.toContain('run systemctl enable --now kanade-agent.service');
  });

  it('uninstall twice is fine (sc delete 1060 is success, warnings only)', async () => {
    const files = new Set<string>();
    const { port } = fakePort(files, {
      'sc.exe delete KanadeAgent': { code: 1060, stdout: 'The specified service does not exist as an installed service.', stderr: '' },
    });
    const req = { target: 'windows' as const, self: { kind: 'exe' as const, path: 'C:\\x\\kanade-agent.exe' }, env: {} };
    const out = await applyPlan(uninstallPlan('windows', await gatherFacts(req, port), false), port, () => undefined);
    expect(out.ok).toBe(true);
  });
});

describe('failpoints used by the service tests', () => {
  it('exit64 is an action and @N arms a point from its N-th hit on', async () => {
    const { parseFailpoints, createFailpoints } = await import('../../actors/failpoints.js');
    expect(parseFailpoints('heartbeat.tick=exit64@2')).toMatchObject({ errors: [] });
    expect(parseFailpoints('a=throw@0').errors).toHaveLength(1);
    const fp = createFailpoints('p=throw@3');
    await fp.hit('p');
    await fp.hit('p');
    await expect(fp.hit('p')).rejects.toThrow('failpoint p triggered');
  });
});
