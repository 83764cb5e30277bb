/**
 * The OS name, version and build for `hw` on Linux and macOS, read the way systeminformation's
 * `osInfo` reads them but without its side trips: `osInfo` also runs `hostname -f` synchronously
 * (a resolver lookup that can block the event loop on a host with slow DNS) and, on macOS,
 * `system_profiler`. Linux: `/etc/os-release` (then `/usr/lib/os-release`); macOS: `sw_vers`.
 *
 * @example
 * await readOsRelease(); // { name: 'Debian GNU/Linux', version: '12', build: '' }
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Longest `sw_vers` may take. */
const SW_VERS_TIMEOUT_MS = 10_000;

/** What the OS says about itself; empty strings where it says nothing. */
export interface OsRelease {
  readonly name: string;
  readonly version: string;
  readonly build: string;
}

/** Parses os-release(5) text: `KEY=value` lines, values optionally quoted. */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) fields.set(m[1] as string, (m[2] as string).trim().replace(/^(["'])(.*)\1$/, '$2'));
  }
  return {
    name: fields.get('NAME') ?? fields.get('ID') ?? '',
    version: fields.get('VERSION_ID') ?? fields.get('VERSION') ?? '',
    build: fields.get('BUILD_ID') ?? '',
  };
}

/** Parses `sw_vers` output (`ProductName:\tmacOS` …). */
export function parseSwVers(text: string): OsRelease {
  const value = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  return { name: value('ProductName'), version: value('ProductVersion'), build: value('BuildVersion') };
}

/** Reads this OS's release facts. */
export async function readOsRelease(platform: NodeJS.Platform = process.platform): Promise<OsRelease> {
  if (platform === 'darwin') {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('sw_vers', [], { timeout: SW_VERS_TIMEOUT_MS }, (err, out) => (err ? reject(err) : resolve(out)));
    });
    return parseSwVers(stdout);
  }
  for (const file of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(await readFile(file, 'utf8'));
    } catch {
      // try the next location (os-release(5) names both)
    }
  }
  return { name: '', version: '', build: '' };
}
