#!/usr/bin/env node
/**
 * `npm test` after tsc: builds the linux-x64 single executable (only that target, into
 * build/test-exe/) and runs vitest with $KANADE_TEST_AGENT_EXE naming it, so every process test
 * runs against the executable, not dist/ (spec/harness/agent-binary.ts). Arguments go to vitest.
 *
 * $KANADE_TEST_AGENT_EXE already set: no build; that executable is tested ('' tests dist/).
 * On a host that is not linux-x64 the build is skipped and dist/ is tested.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildRelease, hostTarget, ROOT } from './release.mjs';

const ENV = 'KANADE_TEST_AGENT_EXE';
const env = { ...process.env };
if (env[ENV] === undefined && hostTarget() === 'linux-x64') {
  const started = Date.now();
  const manifest = await buildRelease({ targets: ['linux-x64'], outDir: join(ROOT, 'build', 'test-exe'), log: () => {} });
  env[ENV] = join(manifest.dir, manifest.files[0].file);
  process.stderr.write(`test: built ${env[ENV]} in ${((Date.now() - started) / 1000).toFixed(1)} s; process tests run against it\n`);
} else {
  process.stderr.write(`test: process tests run against ${env[ENV] ? env[ENV] : 'dist/bin/kanade-agent.js'}\n`);
}
const vitest = spawn(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], {
  env,
  stdio: 'inherit',
});
vitest.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
