/**
 * `kanade-agent inventory --json` (the binary under test, spec/harness/agent-binary.ts): prints hw, sw and net of this Linux machine for
 * operators; hw is the contract HwInventory, sw and net are collected here only.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeHwInventory } from '../../contract/index.js';
import { agentBinary } from '../harness/agent-binary.js';

const BIN = agentBinary();
const run = promisify(execFile);

describe('kanade-agent inventory', () => {
  it('--json prints hw (contract shape), the software list and the adapters', async () => {
    const env = { ...process.env };
    delete env.KANADE_AGENT_CONFIG;
    const { stdout } = await run(BIN.file, [...BIN.args, 'inventory', '--json'], { env, maxBuffer: 64 * 1024 * 1024 });
    const out = JSON.parse(stdout) as Record<string, unknown> & {
      sw: Array<Record<string, unknown>>;
      net: Array<Record<string, unknown>>;
      failures: unknown[];
    };
    expect(out.pc_id).toBe(os.hostname());
    expect(out.published_subject).toBe(`inventory.${os.hostname()}.hw`);
    expect(out.failures).toEqual([]);
    const hw = decodeHwInventory(JSON.stringify(out.hw));
    expect(hw.ok).toBe(true);
    // This machine is Debian: dpkg-query lists the installed packages, dpkg itself among them.
    expect(out.sw.length).toBeGreaterThan(10);
    expect(out.sw.every((s) => typeof s.name === 'string' && typeof s.version === 'string')).toBe(true);
    expect(out.sw.some((s) => s.name === 'dpkg')).toBe(true);
    const nonLoopback = Object.entries(os.networkInterfaces())
      .filter(([, addrs]) => addrs?.some((a) => !a.internal))
      .map(([name]) => name);
    expect((out.net as Array<{ name: string }>).map((n) => n.name).sort()).toEqual(nonLoopback.sort());
  });

  it('takes the pc_id from --config and prints a human summary', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kanade-inv-cli-'));
    try {
      const config = path.join(dir, 'agent.toml');
      await writeFile(
        config,
        `[agent]\nid = "PC-FROM-TOML"\nnats_url = "nats://127.0.0.1:4222"\ndata_dir = "${dir}"\n[log]\nlevel = "info"\nkeep_days = 0\n`,
      );
      const { stdout } = await run(BIN.file, [...BIN.args, 'inventory', '--config', config], { maxBuffer: 64 * 1024 * 1024 });
      expect(stdout).toContain('hw (published on inventory.PC-FROM-TOML.hw):');
      expect(stdout).toContain('  pc_id: PC-FROM-TOML');
      expect(stdout).toMatch(/sw \(collected, not published\): \d+ packages/);
      expect(stdout).toContain('net (collected, not published):');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
