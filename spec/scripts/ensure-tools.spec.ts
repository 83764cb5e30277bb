/**
 * Issue #14: `npm ci && npm test` on a fresh Debian machine failed in the browser test because only
 * `.ci/run` installed chromium. One ensure script (`scripts/ensure-tools.mjs`) now covers every tool,
 * run by `npm test`, `npm run dev` (nats-server only) and `.ci/run`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findNatsServerBinary } from '../../devtools/dev-broker/nats-server.js';
import { installHint, locate, TOOLS } from '../../scripts/ensure-tools.mjs';

const SCRIPT = 'scripts/ensure-tools.mjs';

function runEnsure(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { env, encoding: 'utf8' });
}

describe('scripts/ensure-tools.mjs', () => {
  it('has a row for every tool the suite needs, and each is installed after the ensure step', () => {
    expect(TOOLS.map((row) => row.bin)).toEqual(expect.arrayContaining(['nats-server', 'chromium']));
    for (const row of TOOLS) expect(locate(row).path, row.bin).toBeTruthy();
    expect(runEnsure([])).toMatchObject({ status: 0, stderr: '' });
  });

  it('is what npm test, npm run dev and .ci/run call', () => {
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.test).toMatch(/^node scripts\/ensure-tools\.mjs && /);
    expect(scripts.dev).toMatch(/^node scripts\/ensure-tools\.mjs nats-server && /);
    expect(readFileSync('.ci/run', 'utf8')).toContain('node scripts/ensure-tools.mjs\n');
  });

  it('fails naming the variable when an override is not executable (KANADE_NATS_SERVER still works)', () => {
    const r = runEnsure(['nats-server'], { ...process.env, KANADE_NATS_SERVER: '/nonexistent/nats-server' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('KANADE_NATS_SERVER=/nonexistent/nats-server is not executable');
    expect(r.stderr).toContain('apt-get install -y nats-server');
  });

  it('finds nats-server where the dev broker does (one discovery: devtools/tool-locator.mjs)', () => {
    const row = TOOLS.find((r) => r.bin === 'nats-server')!;
    const env = { PATH: '' };
    expect(locate(row, env).path).toBe(findNatsServerBinary(env));
    const override = { KANADE_NATS_SERVER: process.execPath, PATH: '' };
    expect(locate(row, override).path).toBe(process.execPath);
    expect(findNatsServerBinary(override)).toBe(process.execPath);
  });

  it('rejects a tool it has no row for, listing the known ones', () => {
    const r = runEnsure(['no-such-tool']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown tool no-such-tool; known: nats-server, chromium');
  });

  it('says exactly what to install for missing tools', () => {
    const missing = { bin: 'kanade-no-such-binary', pkg: 'kanade-no-such-pkg', why: 'a test', env: 'KANADE_NO_SUCH' };
    expect(locate(missing, { PATH: '' })).toEqual({});
    const hint = installHint([missing]);
    expect(hint).toContain('missing kanade-no-such-binary (for a test)');
    expect(hint).toContain('sudo apt-get install -y kanade-no-such-pkg');
    expect(hint).toContain('or set KANADE_NO_SUCH=/path/to/kanade-no-such-binary');
  });
});
