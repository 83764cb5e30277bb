/** `kanade-agent outbox stuck|retry` against a real data dir (process-level: the compiled CLI). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createOutbox } from '../../actors/outbox/create-outboxes.js';
import { runCli } from '../cli/run-cli.js';
import { sampleResult, tempDataDir, testLog } from './helpers.js';

let data: { dir: string; cleanup(): Promise<void> };
let configPath: string;
const env = { ...process.env, KANADE_AGENT_DATA_DIR: '', KANADE_AGENT_CONFIG: '' };

beforeAll(async () => {
  data = await tempDataDir();
  configPath = path.join(data.dir, 'agent.toml');
  await writeFile(
    configPath,
    `[agent]\nid = "PC-TEST"\nnats_url = "nats://127.0.0.1:4222"\ndata_dir = ${JSON.stringify(data.dir)}\n[log]\npath = ${JSON.stringify(path.join(data.dir, 'agent.log'))}\nlevel = "info"\n`,
  );
});
afterAll(async () => {
  await data.cleanup();
});

describe('kanade-agent outbox', () => {
  it('lists stuck files with reasons and moves them back with retry <name> and --all', async () => {
    expect((await runCli(['outbox', 'stuck', '--config', configPath], env)).stdout).toBe('no stuck files\n');
    const results = createOutbox('results', path.join(data.dir, 'outbox'), testLog);
    const events = createOutbox('obs', path.join(data.dir, 'obs-outbox'), testLog);
    const r = sampleResult();
    await results.enqueue(r);
    await results.store.stuck.quarantine(`${r.result_id}.json`, 'failed 10 times in a row; last error: no responders');
    await events.enqueue({ pc_id: 'PC-TEST', at: '2026-11-27T05:00:00.000Z', kind: 'agent_online', source: 'agent:startup' });
    const [obsName] = (await readdir(path.join(data.dir, 'obs-outbox'))).filter((n) => n.endsWith('.json'));
    await events.store.stuck.quarantine(obsName!, 'empty file');

    const listed = await runCli(['outbox', 'stuck', '--config', configPath], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`results\t${r.result_id}.json\t`);
    expect(listed.stdout).toContain('no responders');
    expect(listed.stdout).toContain(`obs\t${obsName}\t`);
    expect(listed.stdout).toContain('2 stuck files');
    const json = JSON.parse((await runCli(['outbox', 'stuck', '--json', '--config', configPath], env)).stdout) as Array<{
      outbox: string;
      name: string;
      reason: string;
    }>;
    expect(json.map((j) => j.outbox).sort()).toEqual(['obs', 'results']);

    const missing = await runCli(['outbox', 'retry', 'nope.json', '--config', configPath], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no stuck file named nope.json');

    const one = await runCli(['outbox', 'retry', `${r.result_id}.json`, '--config', configPath], env);
    expect(one.code).toBe(0);
    expect(await readdir(path.join(data.dir, 'outbox'))).toContain(`${r.result_id}.json`);

    const all = await runCli(['outbox', 'retry', '--all', '--config', configPath], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('1 file moved back for retry');
    expect(await readdir(path.join(data.dir, 'obs-outbox'))).toContain(obsName);
    expect((await runCli(['outbox', 'stuck', '--config', configPath], env)).stdout).toBe('no stuck files\n');
  });

  it('refuses retry without a name or --all', async () => {
    const run = await runCli(['outbox', 'retry', '--config', configPath], env);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('give a stuck file name or --all');
  });
});
