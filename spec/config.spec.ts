import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDurationMs } from '../actors/config/duration.js';
import { ConfigError, EX_CONFIG, loadAgentConfig, type LoadAgentConfigOptions } from '../actors/config/load-config.js';

const MINIMAL = `
[agent]
id = "PC-01"
nats_url = "nats://broker:4222"

[log]
path = "/var/log/kanade/agent.log"
level = "info"
`;

let dir: string;
/** A marker path that never exists, so the host's /etc cannot switch signing on. */
let noMarker: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-config-'));
  noMarker = path.join(dir, 'no-marker');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(body: string, name = 'agent.toml'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, body);
  return file;
}

async function load(body: string, opts: LoadAgentConfigOptions = {}) {
  const configPath = await writeConfig(body);
  return loadAgentConfig({
    configPath,
    env: {},
    platform: 'linux',
    hostname: 'host-a',
    requireSignedMarkerPath: noMarker,
    ...opts,
  });
}

async function loadError(body: string, opts: LoadAgentConfigOptions = {}): Promise<ConfigError> {
  const err = await load(body, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('config file resolution', () => {
  it('prefers --config over KANADE_AGENT_CONFIG', async () => {
    const cli = await writeConfig(MINIMAL.replace('PC-01', 'from-cli'), 'cli.toml');
    const fromEnv = await writeConfig(MINIMAL.replace('PC-01', 'from-env'), 'env.toml');
    const config = await loadAgentConfig({
      configPath: cli,
      env: { KANADE_AGENT_CONFIG: fromEnv },
      requireSignedMarkerPath: noMarker,
    });
    expect(config.pcId).toBe('from-cli');
    expect(config.configPath).toBe(cli);
  });

  it('uses KANADE_AGENT_CONFIG without --config', async () => {
    const fromEnv = await writeConfig(MINIMAL.replace('PC-01', 'from-env'), 'env.toml');
    const config = await loadAgentConfig({ env: { KANADE_AGENT_CONFIG: fromEnv }, requireSignedMarkerPath: noMarker });
    expect(config.pcId).toBe('from-env');
  });

  it.skipIf(existsSync('/etc/kanade/agent.toml'))('falls back to /etc/kanade/agent.toml on Linux and names it when missing', async () => {
    const err = await loadAgentConfig({ env: { KANADE_AGENT_CONFIG: '' }, platform: 'linux' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toBe('/etc/kanade/agent.toml');
    expect((err as ConfigError).message).toMatch(/^\/etc\/kanade\/agent\.toml: config file not found \(default path/);
    expect((err as ConfigError).exitCode).toBe(EX_CONFIG);
  });

  it('falls back to %ProgramData%\\Kanade\\config\\agent.toml on Windows', async () => {
    const err = await loadAgentConfig({ env: { ProgramData: 'D:\\PD' }, platform: 'win32' }).catch((e: unknown) => e);
    expect((err as ConfigError).file).toBe('D:\\PD\\Kanade\\config\\agent.toml');
  });

  it('names a missing --config file', async () => {
    const missing = path.join(dir, 'nope.toml');
    const err = await loadAgentConfig({ configPath: missing, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`${missing}: config file not found (--config`);
    expect((err as ConfigError).exitCode).toBe(78);
  });

  it('reports TOML syntax errors with the line', async () => {
    const err = await loadError('[agent]\nid = "x"\nnats_url = \n');
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/: line 3, column \d+: invalid TOML/);
  });
});

describe('templates', () => {
  it('replaces {{ system.host }} with the hostname verbatim, case kept', async () => {
    const config = await load(MINIMAL.replace('"PC-01"', "'{{ system.host }}'"), { hostname: 'Desk-PC07' });
    expect(config.pcId).toBe('Desk-PC07');
  });

  it('prefers COMPUTERNAME on Windows', async () => {
    const config = await load(MINIMAL.replace('"PC-01"', "'{{system.host}}'"), {
      platform: 'win32',
      hostname: 'desk-pc07',
      env: { COMPUTERNAME: 'DESK-PC07' },
    });
    expect(config.pcId).toBe('DESK-PC07');
  });

  it('expands env() with and without a default', async () => {
    const body = MINIMAL.replace('"PC-01"', '"{{ env(name="PCNAME") }}"').replace(
      '"nats://broker:4222"',
      '"{{ env(name="BROKER", default="nats://fallback:4222") }}"',
    );
    const config = await load(body, { env: { PCNAME: 'lab-3' } });
    expect(config.pcId).toBe('lab-3');
    expect(config.natsUrls).toEqual(['nats://fallback:4222']);
    const overridden = await load(body, { env: { PCNAME: 'lab-3', BROKER: 'wss://edge.example/nats' } });
    expect(overridden.natsUrls).toEqual(['wss://edge.example/nats']);
  });

  it('rejects env() of an unset variable without a default', async () => {
    const err = await loadError(MINIMAL.replace('"PC-01"', '"{{ env(name="PCNAME") }}"'));
    expect(err.message).toContain('PCNAME is not set and has no default');
    expect(err.line).toBe(3);
    expect(err.exitCode).toBe(78);
  });

  it.each([['{{ system.user }}'], ['{{ env("X") }}'], ['{{ env(name="X", fallback="y") }}'], ['{{ now() }}']])(
    'rejects the unknown template %s and names it',
    async (template) => {
      const err = await loadError(MINIMAL.replace('"PC-01"', `'${template}'`));
      expect(err.message).toContain(template);
      expect(err.message).toContain(': line 3:');
    },
  );

  it.each([['{% if x %}'], ['{# note #}'], ['{{ system.host']])('rejects other template syntax %s', async (snippet) => {
    const err = await loadError(`${MINIMAL}\n# ${snippet}\n`);
    expect(err.message).toContain('unsupported template syntax');
  });
});

describe('[agent]', () => {
  it('accepts nats_url as a string or an array', async () => {
    expect((await load(MINIMAL)).natsUrls).toEqual(['nats://broker:4222']);
    const array = MINIMAL.replace('"nats://broker:4222"', '["nats://a:4222", "tls://b:4222", "ws://c:80", "wss://d/nats"]');
    expect((await load(array)).natsUrls).toEqual(['nats://a:4222', 'tls://b:4222', 'ws://c:80', 'wss://d/nats']);
  });

  it('rejects a nats_url of the wrong type, naming file, key and expectation', async () => {
    const file = path.join(dir, 'agent.toml');
    const err = await loadError(MINIMAL.replace('"nats://broker:4222"', '42'));
    expect(err.message).toBe(`${file}: [agent] nats_url: expected a nats://, tls://, ws:// or wss:// URL string or array of them, got 42`);
    expect(err).toMatchObject({ file, key: '[agent] nats_url', exitCode: 78 });
  });

  it.each([
    ['"http://broker:4222"', '[agent] nats_url'],
    ['[]', '[agent] nats_url'],
    ['["nats://a:4222", 7]', '[agent] nats_url[1]'],
  ])('rejects nats_url = %s', async (value, key) => {
    const err = await loadError(MINIMAL.replace('"nats://broker:4222"', value));
    expect(err.key).toBe(key);
  });

  it('requires nats_url', async () => {
    const err = await loadError(MINIMAL.replace('nats_url = "nats://broker:4222"', ''));
    expect(err.key).toBe('[agent] nats_url');
    expect(err.message).toContain('got nothing');
  });

  it('defaults id to the hostname verbatim, case kept', async () => {
    const config = await load(MINIMAL.replace('id = "PC-01"', ''), { hostname: 'MixedCase-Host' });
    expect(config.pcId).toBe('MixedCase-Host');
  });

  it('records deprecated groups without using them', async () => {
    expect((await load(MINIMAL)).deprecatedGroups).toBe(false);
    const config = await load(MINIMAL.replace('[log]', 'groups = ["lab"]\n\n[log]'));
    expect(config.deprecatedGroups).toBe(true);
  });

  it('ignores unknown sections and keys', async () => {
    const config = await load(`${MINIMAL}\nfuture = 1\n[tls]\nca = "x"\n[somewhere.else]\nk = []\n`);
    expect(config.pcId).toBe('PC-01');
  });
});

describe('type errors', () => {
  const cases: Array<[string, string, string, string]> = [
    ['[agent] id', 'id = "PC-01"', 'id = 5', 'a string'],
    [
      '[agent] id',
      'id = "PC-01"',
      'id = ""',
      'a single NATS subject token (not empty; no ".", "*", ">" or whitespace), e.g. id = "pc-1" (this one is empty)',
    ],
    ['[agent] data_dir', '[log]', 'data_dir = true\n[log]', 'a non-empty path string'],
    ['[agent]', '[agent]', 'agent = 1\n[x]', 'a table'],
    ['[log] path', 'path = "/var/log/kanade/agent.log"', 'path = 3', 'a non-empty path string'],
    ['[log] level', 'level = "info"', 'level = "loud"', 'one of trace, debug, info, warn, error, fatal'],
    ['[log] keep_days', 'level = "info"', 'level = "info"\nkeep_days = -1', 'an integer ≥ 0'],
    ['[log] keep_days', 'level = "info"', 'level = "info"\nkeep_days = 14.0', 'an integer ≥ 0'],
    ['[security] command_keys_file', '', '[security]\ncommand_keys_file = 1', 'a non-empty path string'],
    ['[security] require_signed_commands', '', '[security]\nrequire_signed_commands = "yes"', 'a boolean (true or false)'],
    ['[control] socket', '', '[control]\nsocket = []', 'a non-empty path string'],
    ['[inventory] enabled', '', '[inventory]\nenabled = 1', 'a boolean (true or false)'],
    ['[inventory] interval', '', '[inventory]\ninterval = 86400', 'a positive humantime duration string like "24h"'],
    ['[inventory] interval', '', '[inventory]\ninterval = "0s"', 'a positive humantime duration string like "24h"'],
    ['[inventory] jitter', '', '[inventory]\njitter = "soon"', 'a humantime duration string like "10m"'],
  ];

  it.each(cases)('%s: names file, key and expected type, exit 78', async (key, find, replace, expected) => {
    const body = find === '' ? `${MINIMAL}\n${replace}\n` : MINIMAL.replace(find, replace);
    const file = path.join(dir, 'agent.toml');
    const err = await loadError(body);
    expect(err).toMatchObject({ file, key, expected, exitCode: 78 });
    expect(err.message.startsWith(`${file}: ${key}: expected ${expected}, got `)).toBe(true);
  });
});

describe('data dir', () => {
  const withDataDir = MINIMAL.replace('[log]', 'data_dir = "/srv/from-file"\n\n[log]');

  it('prefers non-empty KANADE_AGENT_DATA_DIR over the file', async () => {
    const config = await load(withDataDir, { env: { KANADE_AGENT_DATA_DIR: '/srv/from-env' } });
    expect(config.dataDir).toBe('/srv/from-env');
    expect(config.control.socket).toBe('/srv/from-env/agent.sock');
  });

  it('ignores an empty KANADE_AGENT_DATA_DIR', async () => {
    expect((await load(withDataDir, { env: { KANADE_AGENT_DATA_DIR: '' } })).dataDir).toBe('/srv/from-file');
  });

  it('defaults per OS', async () => {
    expect((await load(MINIMAL)).dataDir).toBe('/var/lib/kanade');
    const win = await load(MINIMAL, { platform: 'win32', env: { ProgramData: 'C:\\ProgramData' } });
    expect(win.dataDir).toBe('C:\\ProgramData\\Kanade\\data');
    expect(win.control.socket).toBe('\\\\.\\pipe\\kanade-agent');
    expect(win.security.commandKeysFile).toBe('C:\\ProgramData\\Kanade\\config\\command-keys.json');
  });
});

describe('environment', () => {
  it('on Windows takes the NATS token from the registry value NatsToken before KANADE_NATS_TOKEN (§2)', async () => {
    const asked: string[] = [];
    const readRegistry = async (value: string) => {
      asked.push(value);
      return value === 'NatsToken' ? 'from-registry' : undefined;
    };
    const win = await load(MINIMAL, {
      platform: 'win32',
      env: { ProgramData: 'C:\\ProgramData', KANADE_NATS_TOKEN: 'from-env' },
      readRegistry,
    });
    expect(win.credentials.token).toBe('from-registry');
    expect(asked).toEqual(['RequireSignedCommands', 'NatsToken']);
    const noValue = await load(MINIMAL, {
      platform: 'win32',
      env: { ProgramData: 'C:\\ProgramData', KANADE_NATS_TOKEN: 'from-env' },
      readRegistry: async () => undefined,
    });
    expect(noValue.credentials.token).toBe('from-env');
    const linux = await load(MINIMAL, { env: { KANADE_NATS_TOKEN: 'from-env' }, readRegistry });
    expect(linux.credentials.token).toBe('from-env');
    expect(asked).toHaveLength(2);
  });

  it('on Windows RequireSignedCommands = 1/true/yes in the registry requests enforcement (§6.2)', async () => {
    const env = { ProgramData: 'C:\\ProgramData' };
    for (const [value, on] of [
      ['1', true],
      ['Yes', true],
      ['true', true],
      ['0', false],
      [undefined, false],
    ] as const) {
      const config = await load(MINIMAL, {
        platform: 'win32',
        env,
        readRegistry: async (v) => (v === 'RequireSignedCommands' ? value : undefined),
      });
      expect(config.security.requireSignedCommands, String(value)).toBe(on);
    }
  });

  it('ignores KANADE_NATS_URL with a warning', async () => {
    const config = await load(MINIMAL, { env: { KANADE_NATS_URL: 'nats://elsewhere:4222' } });
    expect(config.natsUrls).toEqual(['nats://broker:4222']);
    expect(config.warnings).toContain('KANADE_NATS_URL is ignored (wire contract §2); set [agent] nats_url');
  });

  it('takes credentials from the environment only', async () => {
    const body = MINIMAL.replace('[log]', 'token = "file-token"\npassword = "file-pass"\n\n[log]');
    const bare = await load(body);
    expect(bare.credentials).toEqual({});
    expect(bare.warnings.join('\n')).toContain('[agent] token');
    expect(bare.warnings.join('\n')).not.toContain('file-token');
    const config = await load(body, {
      env: {
        KANADE_NATS_TOKEN: 'env-token',
        KANADE_NATS_USER: 'agent',
        KANADE_NATS_PASSWORD: 'env-pass',
        KANADE_NATS_CA_FILE: '/etc/kanade/ca.pem',
      },
    });
    expect(config.credentials).toEqual({
      token: 'env-token',
      user: 'agent',
      password: 'env-pass',
      caFile: '/etc/kanade/ca.pem',
    });
  });

  it('lets RUST_LOG override the level when it is a plain level word', async () => {
    expect((await load(MINIMAL, { env: { RUST_LOG: 'DEBUG' } })).log.level).toBe('debug');
    const filtered = await load(MINIMAL, { env: { RUST_LOG: 'kanade_agent=trace,info' } });
    expect(filtered.log.level).toBe('info');
    expect(filtered.warnings.some((w) => w.startsWith('RUST_LOG='))).toBe(true);
  });
});

describe('[security] require_signed_commands', () => {
  it('is off by default and on when the file says so', async () => {
    expect((await load(MINIMAL)).security.requireSignedCommands).toBe(false);
    const on = await load(`${MINIMAL}\n[security]\nrequire_signed_commands = true\n`);
    expect(on.security.requireSignedCommands).toBe(true);
  });

  it('is switched on by the marker file on Linux/macOS but not on Windows', async () => {
    const marker = path.join(dir, 'require-signed-commands');
    await writeFile(marker, '');
    const linux = await load(MINIMAL, { requireSignedMarkerPath: marker });
    expect(linux.security.requireSignedCommands).toBe(true);
    expect((await load(MINIMAL, { platform: 'darwin', requireSignedMarkerPath: marker })).security.requireSignedCommands).toBe(true);
    expect((await load(MINIMAL, { platform: 'win32', requireSignedMarkerPath: marker })).security.requireSignedCommands).toBe(false);
  });

  it('defaults command_keys_file on Linux', async () => {
    expect((await load(MINIMAL)).security.commandKeysFile).toBe('/etc/kanade/command-keys.json');
  });
});

describe('[log] and [inventory] defaults', () => {
  it('defaults a missing [log] to stdout at info with a warning', async () => {
    const config = await load(MINIMAL.slice(0, MINIMAL.indexOf('[log]')));
    expect(config.log).toEqual({ level: 'info', keepDays: 14, maxSizeBytes: 64 * 1024 * 1024 });
    expect(config.warnings.some((w) => w.startsWith('[log] is missing'))).toBe(true);
  });

  it('reads [log] and treats keep_days = 0 as stdout only', async () => {
    expect((await load(MINIMAL)).log).toEqual({
      path: '/var/log/kanade/agent.log',
      level: 'info',
      keepDays: 14,
      maxSizeBytes: 64 * 1024 * 1024,
    });
    expect((await load(MINIMAL.replace('level = "info"', 'level = "warn"\nkeep_days = 0'))).log).toEqual({
      level: 'warn',
      keepDays: 0,
      maxSizeBytes: 64 * 1024 * 1024,
    });
  });

  it('parses inventory durations', async () => {
    expect((await load(MINIMAL)).inventory).toEqual({ enabled: true, intervalMs: 86_400_000, jitterMs: 600_000 });
    const config = await load(`${MINIMAL}\n[inventory]\nenabled = false\ninterval = "1h 30m"\njitter = "1m30s"\n`);
    expect(config.inventory).toEqual({ enabled: false, intervalMs: 5_400_000, jitterMs: 90_000 });
  });
});

describe('parseDurationMs', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5 secs', 5_000],
    ['10m', 600_000],
    ['2mins', 120_000],
    ['1h 30m', 5_400_000],
    ['1m30s', 90_000],
    ['2hrs', 7_200_000],
    ['1d', 86_400_000],
    ['3days', 259_200_000],
    ['1w', 604_800_000],
    ['1000us', 1],
    ['2000000ns', 2],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each([[''], ['10'], ['-5s'], ['1.5h'], ['5 parsecs']])('rejects %j', (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});

describe('[agent] id is a single subject token (issue #14)', () => {
  it('checks the hostname default too, with the fix in the message', async () => {
    const err = await loadError(MINIMAL.replace('id = "PC-01"\n', ''), { hostname: 'name.local' });
    expect(err.key).toBe('[agent] id');
    expect(err.message).toContain('[agent] id is not set, and the hostname "name.local" is not a single NATS subject token');
    expect(err.message).toContain('(it contains ".")');
    expect(err.message).toMatch(/set it in \S+agent\.toml: \[agent\] id = "name"$/);
  });

  it('accepts a plain hostname as the default', async () => {
    expect((await load(MINIMAL.replace('id = "PC-01"\n', ''), { hostname: 'Desk-PC07' })).pcId).toBe('Desk-PC07');
  });

  it('parses [log] max_size in bytes with 1024-based units and refuses nonsense', async () => {
    expect((await load(`${MINIMAL}max_size = "2MiB"\n`)).log.maxSizeBytes).toBe(2 * 1024 * 1024);
    expect((await load(`${MINIMAL}max_size = 8192\n`)).log.maxSizeBytes).toBe(8192);
    const err = await loadError(`${MINIMAL}max_size = "lots"\n`);
    expect(err.message).toContain(
      '[log] max_size: expected a size like "64MiB", "500KiB" or "1GiB" (or an integer number of bytes), at least 4KiB, got "lots"',
    );
  });
});
