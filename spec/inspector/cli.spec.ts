import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { startInspectOption } from '../../bin/commands/inspect-option.js';
import { MACHINE_CATALOG } from '../../supervisor/machine-catalog.js';
import { extractMachineGraph } from '../../devtools/inspector/machine-graph.js';
import { runCli } from '../cli/run-cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('kanade-agent CLI and the inspector', () => {
  it('run --inspect refuses a non-loopback address with a clear error, before starting anything', async () => {
    const run = await runCli(['run', '--config', '/nonexistent/agent.toml', '--inspect', '0.0.0.0:4280']);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('refusing to serve the inspector on 0.0.0.0');
    expect(run.stderr).toContain('loopback only');
    expect(run.stdout).not.toContain('kanade-agent starting');
  });

  it('redacts command scripts and their output unless KANADE_INSPECT_SCRIPTS=show', async () => {
    const machine = setup({}).createMachine({ id: 'm', on: { 'command.received': {} } });
    for (const [env, expected, out] of [
      [{}, '[redacted script, 7 chars]', '[redacted output, 3 chars]'],
      [{ KANADE_INSPECT_SCRIPTS: 'show' }, 'echo hi', 'hi\n'],
    ] as const) {
      const inspector = await startInspectOption('127.0.0.1:0', env);
      if (typeof inspector === 'number') throw new Error(`exit ${inspector}`);
      const actor = createActor(machine, { inspect: inspector.inspect }).start();
      actor.send({ type: 'command.received', script: 'echo hi', result: { stdout: 'hi\n', stderr: 'hi\n' } } as never);
      expect(inspector.hub.events().find((e) => e.type === 'command.received')?.payload).toEqual({
        type: 'command.received',
        script: expected,
        result: { stdout: out, stderr: out },
      });
      expect(inspector.url).toBe(`${inspector.server.url}?token=${inspector.server.token}`);
      actor.stop();
      await inspector.close();
    }
  });

  it('charts --out writes one SVG per catalog machine, each with every state of its machine', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kanade-charts-'));
    dirs.push(out);
    const run = await runCli(['charts', '--out', out]);
    expect(run.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(
      Object.keys(MACHINE_CATALOG)
        .map((name) => `${name}.svg`)
        .sort(),
    );
    for (const [name, machine] of Object.entries(MACHINE_CATALOG)) {
      const svg = await readFile(join(out, `${name}.svg`), 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      for (const node of extractMachineGraph(machine).nodes) expect(svg).toContain(`data-state="${node.id}"`);
    }
  });
});
