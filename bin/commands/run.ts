/** `kanade-agent run`: the resident agent (the supervisor tree) in the foreground. */
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';

/**
 * V8 heap flags `kanade-agent run` sets at start (docs/PERFORMANCE.md, issues #15.2 and #17.5).
 * Both are read at every heap resize, so they work when set at run time — from the `node dist/`
 * entry and the single executable alike (`--max-semi-space-size` does not: it is read only when
 * the heap is created).
 *
 * - `--semi-space-growth-factor=1`: the young generation stays at its start size instead of
 *   doubling up to 16 MiB per semi-space under a high allocation rate.
 * - `--heap-growing-percent=10`: after a full GC the old generation may grow by 10 % of what
 *   survived (at least V8's minimum step) before the next one, instead of V8's default factor of
 *   up to 4× under load. The agent's live heap is ≈ 10–15 MB; what grows during a drain or a
 *   flood is promoted garbage. Cost: more (mostly concurrent) mark-compact GCs while busy.
 *
 * A 30,000-file outbox drain peaked at +82 MB over idle with neither flag, +53 MB with the first,
 * +25 MB with both, at the same rate (docs/PERFORMANCE.md). 30 was measured as well ("Idle weight,
 * second pass"): the same drain RSS, no rate gain over ten runs, less margin after a flood.
 */
export const V8_HEAP_FLAGS = '--semi-space-growth-factor=1 --heap-growing-percent=10';

/** Registers `run`; exit codes are documented in docs/supervision.md. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the agent in the foreground (as the service manager does)')
    .option('-c, --config <file>', 'agent.toml (default: $KANADE_AGENT_CONFIG, then the OS default path)')
    .option('--inspect [port]', 'serve the state-chart inspector on 127.0.0.1 ([host:]port, default 4280; loopback only)')
    .option('--check-config', 'validate agent.toml, print the effective file config and exit (0 valid, 78 invalid); starts nothing')
    .action(async (opts: { config?: string; inspect?: string | true; checkConfig?: boolean }) => {
      if (opts.checkConfig === true) {
        const { checkConfig } = await import('./config.js');
        process.exit(await checkConfig(opts.config));
      }
      setFlagsFromString(V8_HEAP_FLAGS);
      // Windows: the Rust agent's service ran the executable directly; move it behind the host first.
      if (process.platform === 'win32') {
        const exit = await (await import('./direct-service-start.js')).migrateIfStartedDirectly();
        if (exit !== undefined) process.exit(exit);
      }
      // Loaded lazily so other sub-commands (status, exec) do not load the whole tree.
      const { runAgent } = await import('../../supervisor/run-agent.js');
      // No inspection hook at all unless --inspect is given (docs/inspector.md).
      const inspector =
        opts.inspect === undefined ? undefined : await (await import('./inspect-option.js')).startInspectOption(opts.inspect);
      if (typeof inspector === 'number') process.exit(inspector);
      const code = await runAgent({
        ...(opts.config === undefined ? {} : { configPath: opts.config }),
        ...(inspector && { inspect: inspector.inspect, onStarted: (agent) => inspector.setStatusSource(() => agent.report()) }),
      });
      // Exit explicitly: nats.js dial loops or timers of a stopped child must not keep the process up.
      process.exit(code);
    });
}
