/**
 * `kanade-agent inventory [--json]`: collects hw, sw and net the way the resident agent would and
 * prints them, for operators checking what a machine reports. Only `hw` is ever published
 * (`inventory.<pc_id>.hw`); `sw` and `net` are collected here only (the contract reserves their
 * subjects without a shape). Exit 0 when every part was collected, 1 when a part failed.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { subjects } from '../../contract/index.js';
import { ConfigError, loadAgentConfig } from '../../actors/config/load-config.js';
import { collectInventory, createCollector, type InventoryReport } from '../../actors/inventory/collect-inventory.js';
import { INVENTORY_PARTS } from '../../actors/inventory/types.js';

interface InventoryOptions {
  json?: boolean;
  config?: string;
}

/** Registers `inventory`. */
export function registerInventory(program: Command): void {
  program
    .command('inventory')
    .description('collect and print the hardware, software and network inventory of this machine')
    .option('--json', 'print one JSON object {pc_id, published_subject, hw, sw, net, failures}')
    .option('-c, --config <file>', 'agent.toml to take the pc_id from (default: $KANADE_AGENT_CONFIG, else the hostname)')
    .action(async (opts: InventoryOptions) => {
      process.exitCode = await runInventory(opts);
    });
}

async function resolvePcId(opts: InventoryOptions): Promise<string> {
  if (opts.config === undefined && !process.env.KANADE_AGENT_CONFIG) return os.hostname();
  return (await loadAgentConfig({ ...(opts.config !== undefined && { configPath: opts.config }) })).pcId;
}

async function runInventory(opts: InventoryOptions): Promise<number> {
  // `kanade-agent inventory | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let pcId: string;
  try {
    pcId = await resolvePcId(opts);
  } catch (err) {
    process.stderr.write(`kanade-agent inventory: ${(err as Error).message}\n`);
    return err instanceof ConfigError ? err.exitCode : 1;
  }
  const collector = createCollector();
  let report: InventoryReport;
  try {
    report = await collectInventory(collector, pcId, INVENTORY_PARTS);
  } finally {
    await collector.dispose();
  }
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({
        pc_id: pcId,
        published_subject: subjects.inventoryHw(pcId),
        hw: report.hw ?? null,
        sw: report.sw?.items ?? null,
        net: report.net ?? null,
        notes: report.sw?.notes ?? [],
        failures: report.failures,
        duration_ms: report.durationMs,
      })}\n`,
    );
  } else {
    printHuman(pcId, report);
  }
  for (const failure of report.failures) process.stderr.write(`inventory part ${failure.part} failed: ${failure.error}\n`);
  return report.failures.length === 0 ? 0 : 1;
}

function printHuman(pcId: string, report: InventoryReport): void {
  const out: string[] = [];
  out.push(`hw (published on ${subjects.inventoryHw(pcId)}):`);
  if (report.hw) {
    const { disks, ...rest } = report.hw;
    for (const [key, value] of Object.entries(rest)) out.push(`  ${key}: ${value}`);
    for (const d of disks) out.push(`  disk ${d.device_id}: ${d.file_system}, ${gib(d.free_bytes)} free of ${gib(d.size_bytes)}`);
  } else {
    out.push('  (failed)');
  }
  out.push('net (collected, not published):');
  for (const n of report.net ?? []) {
    out.push(
      `  ${n.name} ${n.mac} ipv4=${n.ipv4.join(',') || '-'} ipv6=${n.ipv6.join(',') || '-'} gateway=${n.gateway ?? '-'} dhcp=${n.dhcp ?? 'unknown'}`,
    );
  }
  out.push(`sw (collected, not published): ${report.sw?.items.length ?? 0} packages`);
  for (const note of report.sw?.notes ?? []) out.push(`  note: ${note}`);
  for (const s of report.sw?.items ?? [])
    out.push(`  ${s.name} ${s.version}${s.publisher ? ` (${s.publisher})` : ''}${s.install_date ? ` installed ${s.install_date}` : ''}`);
  out.push(`collected in ${report.durationMs} ms`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}
