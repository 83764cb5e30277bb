/**
 * Windows only, before `run` starts the agent: when the KanadeAgent service still points straight at
 * this executable (the Rust agent's service), put the service host in front of it and exit non-zero
 * so the failure actions restart the service through the host (actors/service/windows-migration.ts).
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';

/** The exit code to leave with, or undefined to go on and run the agent. */
export async function migrateIfStartedDirectly(): Promise<number | undefined> {
  const { isSingleExecutable } = await import('../../actors/self-command.js');
  if (!isSingleExecutable()) return undefined;
  const { createNodeServicePort } = await import('../../actors/service/apply-plan.js');
  const { extractSeaServiceHost } = await import('../../actors/service/sea-host.js');
  const { migrateDirectService, MIGRATION_EXIT_CODE } = await import('../../actors/service/windows-migration.js');
  const { HOST_EXE_NAME, windowsLayout } = await import('../../actors/service/windows-service.js');
  const port = createNodeServicePort();
  const besideExe = path.win32.join(path.win32.dirname(process.execPath), HOST_EXE_NAME);
  const lines: string[] = [];
  const print = (line: string): void => {
    lines.push(`${new Date().toISOString()} ${line}`);
    process.stderr.write(`${line}\n`);
  };
  const outcome = await migrateDirectService({
    env: process.env,
    self: { kind: 'exe', path: process.execPath },
    port,
    hostSource: (await port.exists(besideExe)) ? besideExe : await extractSeaServiceHost().catch(() => undefined),
    print,
  });
  if (outcome.kind === 'not-needed') return undefined;
  if (outcome.kind === 'failed')
    print(`kanade-agent: could not move the KanadeAgent service to the service host: ${outcome.error}; running anyway`);
  else
    print(
      `kanade-agent: the KanadeAgent service ran ${outcome.imagePath} directly; it now runs ${outcome.binPath}; exiting ${MIGRATION_EXIT_CODE} so the failure actions restart it`,
    );
  // Started by the service manager, stderr goes nowhere: keep the story in the host's log too.
  await appendFile(windowsLayout(process.env).hostLog, `${lines.join('\n')}\n`).catch(() => undefined);
  return outcome.kind === 'migrated' ? MIGRATION_EXIT_CODE : undefined;
}
