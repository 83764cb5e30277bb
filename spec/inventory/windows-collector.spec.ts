/**
 * The Windows collector through node-powershell against a fake `powershell` on PATH
 * (fixtures/fake-powershell.cjs) that accepts only the exact commands the contract and the issue
 * name and answers in the JSON shapes Windows PowerShell returns for those CIM classes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeHwInventory, encodeHwInventory } from '../../contract/index.js';
import { createPowerShellSession } from '../../actors/inventory/powershell-session.js';
import { asArray, createWindowsCollector, installDate } from '../../actors/inventory/windows-collector.js';
import { collectInventory } from '../../actors/inventory/collect-inventory.js';
import { pollUntil } from '../config-kv/test-services.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-powershell.cjs', import.meta.url));

interface LogLine {
  pid: number;
  argv?: string[];
  command?: string;
}

describe('Windows collector (fake powershell on PATH)', () => {
  let dir: string;
  let logFile: string;
  const savedPath = process.env.PATH;
  let n = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kanade-fake-ps-'));
    await symlink(FAKE, path.join(dir, 'powershell'));
    await symlink(FAKE, path.join(dir, 'pwsh'));
    process.env.PATH = `${dir}${path.delimiter}${savedPath}`;
    delete process.env.NODE_POWERSHELL;
  });
  afterEach(() => {
    delete process.env.FAKE_PS_EXIT_AFTER;
    delete process.env.FAKE_PS_BROKEN;
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_PS_LOG;
    await rm(dir, { recursive: true, force: true });
  });

  const freshLog = (): string => {
    n += 1;
    logFile = path.join(dir, `log-${n}.jsonl`);
    process.env.FAKE_PS_LOG = logFile;
    return logFile;
  };
  const readLog = async (): Promise<LogLine[]> =>
    (await readFile(logFile, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);

  it('collects hw, sw and net through one -NoProfile -NonInteractive session and disposes it', async () => {
    freshLog();
    const collector = createWindowsCollector(createPowerShellSession({ executable: 'powershell' }));
    const report = await collectInventory(collector, 'DESKTOP-7K2Q9LM', ['hw', 'sw', 'net']);
    expect(report.failures).toEqual([]);

    const hw = decodeHwInventory(encodeHwInventory(report.hw!));
    expect(hw.ok).toBe(true);
    expect(report.hw).toMatchObject({
      pc_id: 'DESKTOP-7K2Q9LM',
      hostname: 'DESKTOP-7K2Q9LM',
      os_name: 'Microsoft Windows 11 Pro',
      os_version: '10.0.22631',
      os_build: '22631',
      cpu_model: 'Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz',
      cpu_cores: 8,
      ram_bytes: 17013522432,
      disks: [
        { device_id: 'C:', size_bytes: 511210610688, free_bytes: 203117350912, file_system: 'NTFS' },
        { device_id: 'D:', size_bytes: 1000186310656, free_bytes: 742312345600, file_system: 'NTFS' },
      ],
    });
    expect(report.sw?.items).toEqual([
      { name: '7-Zip 23.01 (x64)', version: '23.01', publisher: 'Igor Pavlov', install_date: null },
      { name: 'Google Chrome', version: '120.0.6099.130', publisher: 'Google LLC', install_date: '2023-12-20' },
      {
        name: 'Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130',
        version: '14.38.33130.0',
        publisher: 'Microsoft Corporation',
        install_date: '2024-01-10',
      },
    ]);
    expect(report.net).toEqual([
      {
        name: 'Intel(R) Ethernet Connection (11) I219-LM',
        mac: '3C:52:82:5A:1B:2C',
        ipv4: ['192.168.1.23'],
        ipv6: ['fe80::1c2d:3e4f:5a6b:7c8d'],
        gateway: '192.168.1.1',
        dhcp: true,
      },
    ]);

    const log = await readLog();
    const sessions = log.filter((l) => l.argv);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.argv).toEqual(['-NoLogo', '-NoProfile', '-NonInteractive', '-NoExit', '-Command', '-']);
    const commands = log.filter((l) => l.command).map((l) => l.command as string);
    expect(commands).toHaveLength(6);
    expect(commands.some((c) => c.includes('Win32_Product'))).toBe(false);
    expect(commands.every((c) => c.endsWith('| ConvertTo-Json -Compress'))).toBe(true);

    await collector.dispose();
    const pid = sessions[0]?.pid as number;
    await pollUntil('powershell exited', 5_000, () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('recreates the session when PowerShell dies; the failed part is named and the others still come', async () => {
    freshLog();
    process.env.FAKE_PS_EXIT_AFTER = '2'; // dies on the third command (Win32_Processor, inside hw)
    const messages: string[] = [];
    const collector = createWindowsCollector(createPowerShellSession({ executable: 'powershell', onRestart: (r) => messages.push(r) }));
    const report = await collectInventory(collector, 'PC', ['hw', 'sw', 'net']);
    expect(report.failures.map((f) => f.part)).toEqual(['hw']);
    expect(report.hw).toBeUndefined();
    expect(report.sw?.items).toHaveLength(3);
    // The replacement session answers sw and net (its first two commands).
    expect(report.net).toHaveLength(1);
    const sessions = (await readLog()).filter((l) => l.argv);
    expect(sessions).toHaveLength(2);
    expect(messages).toHaveLength(1);
    await collector.dispose();
  });

  it('a broken software answer fails only sw', async () => {
    freshLog();
    process.env.FAKE_PS_BROKEN = 'software';
    const collector = createWindowsCollector(createPowerShellSession({ executable: 'pwsh' }));
    const report = await collectInventory(collector, 'PC', ['hw', 'sw', 'net']);
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({ part: 'sw' });
    expect(report.failures[0]?.error).toContain('did not return JSON');
    expect(report.hw?.os_name).toBe('Microsoft Windows 11 Pro');
    expect(report.net).toHaveLength(1);
    await collector.dispose();
  });
});

describe('ConvertTo-Json answers', () => {
  it('empty output, a single object and an array all become rows; install dates are yyyyMMdd', () => {
    expect(asArray('', 'x')).toEqual([]);
    expect(asArray('{"a":1}', 'x')).toEqual([{ a: 1 }]);
    expect(asArray('[{"a":1},{"a":2}]', 'x')).toHaveLength(2);
    expect(() => asArray('oops', 'Win32_Processor')).toThrow(/Win32_Processor: PowerShell did not return JSON/);
    expect(installDate('20240110')).toBe('2024-01-10');
    expect(installDate('1/10/2024')).toBeNull();
    expect(installDate(null)).toBeNull();
  });
});
