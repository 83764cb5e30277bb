/**
 * An outbox's `stuck/` directory (§9 quarantine, never deletes): a file that cannot be delivered
 * is moved there with a `<stuck name>.reason` sidecar (time and reason), listed by `kanade-agent
 * outbox stuck` and moved back for another round by `outbox retry`.
 *
 * @example
 * const stuck = new StuckDir('/var/lib/kanade-agent/outbox', syncOutboxDir, wakeDrain);
 * await stuck.quarantine('8d7c….json', 'empty file'); // '8d7c….json' (or '8d7c….json.1' when taken)
 * await stuck.retry('8d7c….json'); // back in the outbox as '8d7c….json'
 */
import { lstat, mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { entryExists } from '../durable-fs.js';
import { readRegularText } from '../regular-file.js';

/** Sub-directory of quarantined files (§9). */
export const STUCK_DIR_NAME = 'stuck';
/** Suffix of the sidecar that says why a file was quarantined. */
export const REASON_SUFFIX = '.reason';
/** Highest collision suffix tried in `stuck/` before giving up (`.1` … `.999`). */
export const MAX_COLLISION_SUFFIX = 999;
/** Suffix of a message file. */
const MESSAGE_SUFFIX = '.json';

/** A quarantined file and why it was moved. */
export interface StuckFile {
  readonly name: string;
  readonly reason: string;
  readonly mtimeMs: number;
}

/** See the module comment. */
export class StuckDir {
  /** `<outbox>/stuck`. */
  readonly dir: string;
  private chain: Promise<unknown> = Promise.resolve();

  /**
   * @param outboxDir the outbox the files come from and go back to
   * @param syncOutboxDir fsyncs the outbox directory (a file moved back must survive a power cut)
   * @param returned called when a file is back in the outbox (wakes the drain)
   */
  constructor(
    private readonly outboxDir: string,
    private readonly syncOutboxDir: () => Promise<void>,
    private readonly returned: () => void,
  ) {
    this.dir = path.join(outboxDir, STUCK_DIR_NAME);
  }

  /**
   * Moves `name` here (collisions get `.1`, `.2` …) with a `<stuck name>.reason` sidecar. Never
   * deletes anything. Returns the name under `stuck/`, or undefined when the file was gone.
   */
  quarantine(name: string, reason: string, now: Date = new Date()): Promise<string | undefined> {
    // Serialised so two quarantines never pick the same free name.
    const run = this.chain.then(() => this.quarantineNow(name, reason, now));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The quarantined files with their reasons, oldest first. */
  async list(): Promise<StuckFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: StuckFile[] = [];
    for (const name of names) {
      if (name.endsWith(REASON_SUFFIX) || name.endsWith('.tmp')) continue;
      // lstat: a quarantined FIFO or symlink is listed too (it is why it was quarantined).
      const info = await lstat(path.join(this.dir, name)).catch(() => undefined);
      if (info === undefined) continue;
      const reason = await readRegularText(path.join(this.dir, `${name}${REASON_SUFFIX}`)).catch(() => '(no reason recorded)');
      out.push({ name, reason: reason.trim(), mtimeMs: info.mtimeMs });
    }
    return out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
  }

  /** Number of quarantined files (sidecars excluded); 0 when unreadable. */
  async count(): Promise<number> {
    try {
      return (await readdir(this.dir)).filter((n) => !n.endsWith(REASON_SUFFIX) && !n.endsWith('.tmp')).length;
    } catch {
      return 0;
    }
  }

  /** True when a file of message id `id` is here (`<id>.json…`, `<id>.retry-…`). Rejects on errors other than ENOENT. */
  async holds(id: string): Promise<boolean> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    return names.some(
      (n) => (n.startsWith(`${id}${MESSAGE_SUFFIX}`) || n.startsWith(`${id}.retry-`)) && !n.endsWith(REASON_SUFFIX) && !n.endsWith('.tmp'),
    );
  }

  /**
   * Moves a quarantined file back into the outbox for another round of attempts and removes its
   * `.reason` sidecar. Returns the file's new name in the outbox.
   */
  async retry(name: string): Promise<string> {
    if (name.includes('/') || name.includes('\\') || name.endsWith(REASON_SUFFIX)) throw new Error(`not a stuck file name: ${name}`);
    const from = path.join(this.dir, name);
    await lstat(from);
    // `<id>.json.2` → `<id>.json`; a taken name becomes `<id>.retry-<n>.json` (the drain reads
    // subjects from the payload, so the file name carries no meaning beyond uniqueness).
    const base = name.replace(/\.json(\.\d+)?$/, '').replace(/(\.retry-\d+)+$/, '');
    let target = `${base}${MESSAGE_SUFFIX}`;
    for (let n = 1; await entryExists(path.join(this.outboxDir, target)); n += 1) target = `${base}.retry-${n}${MESSAGE_SUFFIX}`;
    await rename(from, path.join(this.outboxDir, target));
    await unlink(path.join(this.dir, `${name}${REASON_SUFFIX}`)).catch(() => undefined);
    await this.syncOutboxDir().catch(() => undefined);
    this.returned();
    return target;
  }

  private async quarantineNow(name: string, reason: string, now: Date): Promise<string | undefined> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const from = path.join(this.outboxDir, name);
    let target = name;
    for (let n = 1; await entryExists(path.join(this.dir, target)); n += 1) {
      if (n > MAX_COLLISION_SUFFIX) throw new Error(`stuck/ already holds ${name} and ${MAX_COLLISION_SUFFIX} numbered copies`);
      target = `${name}.${n}`;
    }
    // Sidecar first, so a quarantined file never lacks its reason (a crash in between leaves only
    // a harmless orphan sidecar).
    await writeFile(path.join(this.dir, `${target}${REASON_SUFFIX}`), `${now.toISOString()} ${reason}\n`, { mode: 0o600 });
    try {
      await rename(from, path.join(this.dir, target));
    } catch (err) {
      await unlink(path.join(this.dir, `${target}${REASON_SUFFIX}`)).catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return target;
  }
}
