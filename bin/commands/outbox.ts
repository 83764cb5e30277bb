/**
 * `kanade-agent outbox stuck` lists the files quarantined in the three outboxes' `stuck/` folders
 * with their reasons; `kanade-agent outbox retry <name>|--all` moves them back for another round
 * of attempts (a running agent picks them up within a second). Works with or without the agent
 * running: it only moves files.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadAgentConfig } from '../../actors/config/load-config.js';
import { OUTBOX_KINDS, OUTBOX_KIND_NAMES, type OutboxKind } from '../../actors/outbox/outbox-kinds.js';
import { OutboxStore } from '../../actors/outbox/outbox-store.js';
import type { StuckFile } from '../../actors/outbox/stuck-dir.js';

/** Exit code when `retry` names a file that is not stuck. */
export const EXIT_NOT_FOUND = 2;

interface OutboxCliOptions {
  config?: string;
  json?: boolean;
  all?: boolean;
}

type Stores = Array<{ kind: OutboxKind; store: OutboxStore<unknown> }>;

async function openStores(opts: OutboxCliOptions): Promise<{ dataDir: string; stores: Stores }> {
  const config = await loadAgentConfig(opts.config === undefined ? {} : { configPath: opts.config });
  const log = pino({ level: 'silent' });
  const stores = OUTBOX_KIND_NAMES.map((kind) => ({
    kind,
    store: new OutboxStore<unknown>(path.join(config.dataDir, OUTBOX_KINDS[kind].dirName), OUTBOX_KINDS[kind] as never, log),
  }));
  return { dataDir: config.dataDir, stores };
}

function fail(verb: string, err: unknown): number {
  process.stderr.write(`kanade-agent outbox ${verb}: ${err instanceof Error ? err.message : String(err)}\n`);
  return err instanceof ConfigError ? err.exitCode : 1;
}

async function listStuck(opts: OutboxCliOptions): Promise<number> {
  let stores: Stores;
  try {
    ({ stores } = await openStores(opts));
  } catch (err) {
    return fail('stuck', err);
  }
  const rows: Array<StuckFile & { outbox: string; dir: string }> = [];
  for (const { kind, store } of stores) {
    for (const file of await store.stuck.list()) rows.push({ ...file, outbox: kind, dir: store.stuck.dir });
  }
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify(rows.map(({ outbox, name, reason, dir }) => ({ outbox, name, reason, path: path.join(dir, name) })))}\n`,
    );
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('no stuck files\n');
    return 0;
  }
  for (const row of rows) process.stdout.write(`${row.outbox}\t${row.name}\t${row.reason}\n`);
  process.stdout.write(
    `${rows.length} stuck file${rows.length === 1 ? '' : 's'}; move back with: kanade-agent outbox retry <name> | --all\n`,
  );
  return 0;
}

async function retryStuck(name: string | undefined, opts: OutboxCliOptions): Promise<number> {
  if ((name === undefined) === !opts.all) {
    process.stderr.write('kanade-agent outbox retry: give a stuck file name or --all\n');
    return 64;
  }
  let stores: Stores;
  try {
    ({ stores } = await openStores(opts));
  } catch (err) {
    return fail('retry', err);
  }
  let moved = 0;
  let failed = 0;
  for (const { kind, store } of stores) {
    for (const file of await store.stuck.list()) {
      if (!opts.all && file.name !== name) continue;
      try {
        const back = await store.stuck.retry(file.name);
        process.stdout.write(`${kind}\t${file.name}\t→ ${back}\n`);
        moved += 1;
      } catch (err) {
        failed += 1;
        process.stderr.write(`kanade-agent outbox retry: ${kind}/${file.name}: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
  if (!opts.all && moved === 0 && failed === 0) {
    process.stderr.write(`kanade-agent outbox retry: no stuck file named ${name}\n`);
    return EXIT_NOT_FOUND;
  }
  process.stdout.write(`${moved} file${moved === 1 ? '' : 's'} moved back for retry\n`);
  return failed === 0 ? 0 : 1;
}

/** Registers `outbox stuck` and `outbox retry`. */
export function registerOutbox(program: Command): void {
  const outbox = program.command('outbox').description('inspect and retry quarantined outbox files');
  outbox
    .command('stuck')
    .description('list files quarantined in stuck/ with their reasons')
    .option('-c, --config <file>', 'agent.toml (to find the data dir)')
    .option('--json', 'print a JSON array')
    .action(async (opts: OutboxCliOptions) => {
      process.exitCode = await listStuck(opts);
    });
  outbox
    .command('retry')
    .description('move stuck files back into their outbox for another round of attempts')
    .argument('[name]', 'a stuck file name as `outbox stuck` prints it')
    .option('--all', 'every stuck file')
    .option('-c, --config <file>', 'agent.toml (to find the data dir)')
    .action(async (name: string | undefined, opts: OutboxCliOptions) => {
      process.exitCode = await retryStuck(name, opts);
    });
}
