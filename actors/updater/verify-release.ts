/**
 * The `verifyRelease` effect (§10 step 3 and the pre-swap check): the SHA-256 of the staged
 * file as it is on disk equals the object's digest — compared as decoded bytes, so base64 padding
 * or alphabet cannot matter — and running the staged file with `--version` prints
 * `kanade-agent <V>` within {@link VERSION_CHECK_TIMEOUT_MS}. That catches a wrong architecture or a
 * release published under the wrong version before anything is swapped. A refused file is deleted.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { fromPromise } from 'xstate';
import { decodeObjectDigest, sameDigest, versionLine } from '../../contract/index.js';
import { stagedPath } from './updater-files.js';
import type { ReleaseJob, StepOutcome } from './updater-types.js';

/** How long the staged executable may take to print its version. */
export const VERSION_CHECK_TIMEOUT_MS = 10_000;
/** Output of `--version` kept (anything longer is not a version line). */
const VERSION_OUTPUT_MAX_BYTES = 4096;

async function sha256Of(file: string): Promise<Uint8Array> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest();
}

/** Runs `<file> --version` with no secrets in the environment; resolves with its trimmed stdout. */
export function readVersionLine(file: string, timeoutMs = VERSION_CHECK_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      ['--version'],
      {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: VERSION_OUTPUT_MAX_BYTES,
        windowsHide: true,
        env: { PATH: process.env['PATH'] ?? '' },
      },
      (error, stdout) => {
        if (error !== null) {
          const reason =
            (error as { killed?: boolean }).killed === true ? `did not answer within ${timeoutMs / 1000} s` : error.message.split('\n')[0];
          reject(new Error(`${file} --version ${reason}`));
          return;
        }
        resolve(stdout.trim());
      },
    );
  });
}

/** The verification; never rejects. */
export async function verifyStaged(job: ReleaseJob): Promise<StepOutcome> {
  const { ports, target } = job;
  if (ports.exe === null) return { ok: false, reason: 'not a single executable' };
  const file = stagedPath(ports.dataDir, ports.exe.stem, target);
  const refuse = async (reason: string): Promise<StepOutcome> => {
    await rm(file, { force: true }).catch(() => undefined);
    return { ok: false, reason };
  };
  const expected = decodeObjectDigest(job.digest ?? '');
  if (expected === null) return refuse(`the object digest ${JSON.stringify((job.digest ?? '').slice(0, 80))} is not SHA-256=<base64url>`);
  try {
    if (!sameDigest(await sha256Of(file), expected)) return refuse('SHA-256 of the staged file does not match the object digest');
    await chmod(file, 0o700);
    const line = await readVersionLine(file);
    const want = versionLine(target);
    if (line !== want) return refuse(`--version printed ${JSON.stringify(line.slice(0, 120))}, expected ${JSON.stringify(want)}`);
    return { ok: true };
  } catch (error) {
    return refuse((error as Error).message);
  }
}

export const verifyRelease = fromPromise<StepOutcome, ReleaseJob>(({ input }) => verifyStaged(input));
