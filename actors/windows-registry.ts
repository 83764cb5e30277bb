/**
 * Reads REG_SZ values under `HKLM\SOFTWARE\kanade\agent`, where Windows installers put what the
 * contract keeps out of agent.toml (§2 `NatsToken`, §6.2 `CommandKeys`). Uses `reg query`, so no
 * native addon is needed; elsewhere it reads nothing.
 */
import { execFile } from 'node:child_process';

/** The agent's registry key (contract §2, §6.2). */
export const KANADE_AGENT_REGISTRY_KEY = 'HKLM\\SOFTWARE\\kanade\\agent';

/**
 * The data of `value` in `reg query` output, or undefined: REG_SZ as written, REG_DWORD (`0x1`) as
 * its decimal text (`1`), since `reg add /t REG_DWORD /d 1` is how installers set flags.
 */
export function parseRegQuery(output: string, value: string): string | undefined {
  for (const line of output.split(/\r?\n/)) {
    const m = /^\s+(\S+)\s+(REG_SZ|REG_DWORD)\s+(.*)$/.exec(line);
    if (m === null || m[1] !== value) continue;
    if (m[2] === 'REG_SZ') return m[3];
    const dword = /^0x([0-9a-fA-F]{1,8})$/.exec((m[3] ?? '').trim());
    return dword === null ? undefined : String(Number.parseInt(dword[1] as string, 16));
  }
  return undefined;
}

/** `reg query <key> /v <value>`; undefined when the key or value is absent or reg fails. */
export function queryRegistryValue(value: string, key: string = KANADE_AGENT_REGISTRY_KEY): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('reg', ['query', key, '/v', value], { windowsHide: true }, (err, stdout) => {
      resolve(err ? undefined : parseRegQuery(stdout, value));
    });
  });
}
