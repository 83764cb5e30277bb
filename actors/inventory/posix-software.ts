/**
 * Installed software on Linux/macOS from the package managers that exist: `dpkg-query`, `rpm -qa`,
 * `brew list --versions`. A missing tool contributes nothing; when none is found the list is empty
 * with a note saying so.
 */
import { execFile } from 'node:child_process';
import type { SoftwareItem, SoftwareList } from './types.js';

/** Longest a package listing may run. */
export const PACKAGE_LIST_TIMEOUT_MS = 60_000;
/** Largest package listing read (a few thousand packages fit comfortably). */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/** Runs a tool and returns its stdout, or `undefined` when the tool is not installed. */
export type RunTool = (file: string, args: readonly string[]) => Promise<string | undefined>;

/** Runs `file` with `args` (no shell); ENOENT means "not installed". */
export const runTool: RunTool = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { timeout: PACKAGE_LIST_TIMEOUT_MS, maxBuffer: MAX_LISTING_BYTES, env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') resolve(undefined);
        else if (err) reject(new Error(`${file} failed: ${err.message.split('\n')[0]}`));
        else resolve(stdout);
      },
    );
  });

const orNull = (text: string | undefined): string | null =>
  text === undefined || text.trim() === '' || text === '(none)' ? null : text.trim();

/** Parses `dpkg-query -W -f '${Package}\t${Version}\t${Maintainer}\t${db:Status-Abbrev}\n'`. */
export function parseDpkg(stdout: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const line of stdout.split('\n')) {
    const [name, version, maintainer, status] = line.split('\t');
    if (!name || version === undefined) continue;
    // Only installed packages ("ii"); removed-but-configured ones ("rc") are not software on the box.
    if (status !== undefined && !status.startsWith('ii')) continue;
    items.push({ name, version, publisher: orNull(maintainer), install_date: null });
  }
  return items;
}

/** Parses `rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\t%{INSTALLTIME}\n'`. */
export function parseRpm(stdout: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const line of stdout.split('\n')) {
    const [name, version, vendor, installTime] = line.split('\t');
    if (!name || version === undefined) continue;
    const epoch = Number(installTime);
    items.push({
      name,
      version,
      publisher: orNull(vendor),
      install_date: Number.isFinite(epoch) && epoch > 0 ? new Date(epoch * 1000).toISOString().slice(0, 10) : null,
    });
  }
  return items;
}

/** Parses `brew list --versions` (`name v1 v2`: the last listed version is reported). */
export function parseBrew(stdout: string): SoftwareItem[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length >= 2 && p[0])
    .map((p) => ({ name: p[0] as string, version: p[p.length - 1] as string, publisher: null, install_date: null }));
}

/** Lists software from every package manager present. */
export async function collectPosixSoftware(run: RunTool = runTool): Promise<SoftwareList> {
  const sources: Array<[string, string, readonly string[], (s: string) => SoftwareItem[]]> = [
    ['dpkg', 'dpkg-query', ['-W', '-f', '${Package}\t${Version}\t${Maintainer}\t${db:Status-Abbrev}\n'], parseDpkg],
    ['rpm', 'rpm', ['-qa', '--qf', '%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\t%{INSTALLTIME}\n'], parseRpm],
    ['brew', 'brew', ['list', '--versions'], parseBrew],
  ];
  const items: SoftwareItem[] = [];
  const found: string[] = [];
  for (const [label, file, args, parse] of sources) {
    const stdout = await run(file, args);
    if (stdout === undefined) continue;
    found.push(label);
    items.push(...parse(stdout));
  }
  items.sort((a, b) => a.name.localeCompare(b.name));
  return { items, notes: found.length === 0 ? ['no package manager found (dpkg-query, rpm, brew): software list is empty'] : [] };
}
