/**
 * `kanade-agent release publish --nats URL [--dir release/<V>]`: uploads each executable of a
 * release directory into `agent_releases` under its key (§4), as `kanade agent publish` does.
 * Credentials come from the same environment as `exec` (KANADE_NATS_TOKEN, …).
 */
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { credentialsFromEnv, natsConnectOptions } from '../../actors/nats-options.js';
import { publishRelease } from '../../actors/release/publish-release.js';
import { readReleaseDir } from '../../actors/release/release-dir.js';
import { AGENT_VERSION } from '../../actors/version.js';
import { DEFAULT_EXEC_NATS_URL } from './exec.js';

/** Exit codes: 1 the directory or the stored objects do not check out, 2 no broker. */
const EXIT_BAD_RELEASE = 1;
const EXIT_NO_BROKER = 2;

interface PublishOptions {
  nats: string;
  dir: string;
  json?: boolean;
}

/** Registers `release publish`. */
export function registerRelease(program: Command): void {
  const release = program.command('release').description('work with release directories written by `npm run release`');
  release
    .command('publish')
    .description('upload each executable of a release directory into the agent_releases object store under its key')
    .option('--nats <url>', 'NATS server URL', DEFAULT_EXEC_NATS_URL)
    .option('--dir <dir>', 'the release directory (manifest.json, SHA256SUMS, executables)', path.join('release', AGENT_VERSION))
    .option('--json', 'print one JSON line per file')
    .action(async (opts: PublishOptions) => {
      process.exitCode = await publish(opts);
    });
}

async function publish(opts: PublishOptions): Promise<number> {
  const release = await readReleaseDir(opts.dir);
  if (!release.ok) {
    process.stderr.write(`kanade-agent release publish: ${opts.dir}: ${release.error}\n`);
    return EXIT_BAD_RELEASE;
  }
  let nc: NatsConnection;
  try {
    nc = await connect({ ...natsConnectOptions([opts.nats], 'kanade-agent-release-publish', credentialsFromEnv()), timeout: 5_000 });
  } catch (error) {
    process.stderr.write(`kanade-agent release publish: cannot connect to ${opts.nats}: ${(error as Error).message}\n`);
    return EXIT_NO_BROKER;
  }
  try {
    for (const file of await publishRelease(nc, release.entries)) {
      process.stdout.write(
        opts.json ? `${JSON.stringify(file)}\n` : `${file.action.padEnd(9)} ${file.key}  ${file.size} bytes  ${file.digest}\n`,
      );
    }
    return 0;
  } catch (error) {
    process.stderr.write(`kanade-agent release publish: ${(error as Error).message}\n`);
    return EXIT_BAD_RELEASE;
  } finally {
    await nc.close();
  }
}
