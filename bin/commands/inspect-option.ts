/**
 * `--inspect [[host:]port]` of `kanade-agent run`: starts the loopback inspector before the tree so
 * its `inspect` observer sees every actor from the first. Loaded only when the option is given.
 */
import { InspectorBindError, parseInspectAddress } from '../../devtools/inspector/loopback.js';
import { startInspector, type Inspector } from '../../devtools/inspector/start-inspector.js';
import { MACHINE_CATALOG } from '../../supervisor/machine-catalog.js';

/** EX_USAGE: a refused `--inspect` address. */
const EXIT_USAGE = 64;
/** Set to `show` to see command scripts and their stdout/stderr in the inspector (redacted by default; local debugging only). */
export const INSPECT_SCRIPTS_ENV = 'KANADE_INSPECT_SCRIPTS';

/**
 * Starts the inspector for the `--inspect` value, or returns the exit code after one clear line on
 * stderr. Without an explicit port, a busy default port falls back to any free one.
 *
 * @example
 * const inspector = await startInspectOption(opts.inspect);
 */
export async function startInspectOption(value: string | true, env: NodeJS.ProcessEnv = process.env): Promise<Inspector | number> {
  let address;
  try {
    address = parseInspectAddress(value);
  } catch (error) {
    process.stderr.write(`kanade-agent: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }
  const explicitPort = value !== true && /\d$/.test(value);
  const machines = Object.values(MACHINE_CATALOG);
  const show = env[INSPECT_SCRIPTS_ENV] === 'show';
  const redact = { redactScripts: !show, redactOutput: !show };
  let inspector: Inspector;
  try {
    inspector = await startInspector({ address, machines, redact });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' && !explicitPort) {
      inspector = await startInspector({ address: { ...address, port: 0 }, machines, redact });
    } else {
      process.stderr.write(`kanade-agent: cannot serve the inspector on ${address.host}:${address.port}: ${(error as Error).message}\n`);
      return error instanceof InspectorBindError ? EXIT_USAGE : 1;
    }
  }
  const scripts = show ? `; command scripts and output shown (${INSPECT_SCRIPTS_ENV}=show)` : '';
  process.stderr.write(`kanade-agent: inspector on ${inspector.url} (loopback only${scripts})\n`);
  return inspector;
}
