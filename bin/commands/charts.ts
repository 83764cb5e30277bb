/** `kanade-agent charts --out DIR`: one SVG per machine of the catalog, laid out as the inspector does. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';

/** Registers `charts`. */
export function registerCharts(program: Command): void {
  program
    .command('charts')
    .description('write one SVG state chart per machine (the same drawings as the inspector)')
    .requiredOption('-o, --out <dir>', 'directory to write <machine>.svg files into')
    .action(async (opts: { out: string }) => {
      process.exitCode = await writeCharts(opts.out);
    });
}

async function writeCharts(outDir: string): Promise<number> {
  // Loaded lazily: elkjs is large and only this command and --inspect need it.
  const { MACHINE_CATALOG } = await import('../../supervisor/machine-catalog.js');
  const { machineChartSvg } = await import('../../devtools/inspector/chart-svg.js');
  await mkdir(outDir, { recursive: true });
  for (const [name, machine] of Object.entries(MACHINE_CATALOG)) {
    const file = join(outDir, `${name}.svg`);
    await writeFile(file, `${await machineChartSvg(machine)}\n`);
    process.stdout.write(`${file}\n`);
  }
  return 0;
}
