/** `kanade-agent run`: the resident agent (the supervisor tree) in the foreground. */
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';

/**
 * Keeps V8's young generation at its start size instead of letting it double up to 16 MiB per
 * semi-space under a high allocation rate (issue #15.2): a 30,000-file outbox drain peaked at
 * +53 MB RSS over idle with it and +82 MB without, at the same rate (docs/PERFORMANCE.md). Unlike
 * `--max-semi-space-size`, this flag is read at every resize, so it works when set at run time —
 * from the `node dist/` entry and the single executable alike.
 */
export const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

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
      setFlagsFromString(YOUNG_GENERATION_FLAG);
      // Windows: the Rust agent's service ran the executable directly; move it behind the host first.
      if (process.platform === 'win32') {
        const exit = await (await import('./direct-service-start.js')).migrateIfStartedDirectly();
        if (exit !== undefined) process.exit(exit);
      }
      // Loaded lazily so other sub-commands (status, exec) do not load the whole tree.
      const { runAgent } = await import('../../supervisor/run-agent.js');
      // No inspection hook at all unless --inspect is given (docs/inspector.md).
      const inspector = opts.inspect === undefined ? undefined : await (await import('./inspect-option.js')).startInspectOption(opts.inspect);
      if (typeof inspector === 'number') process.exit(inspector);
      const code = await runAgent({ ...(opts.config === undefined ? {} : { configPath: opts.config }), ...(inspector && { inspect: inspector.inspect, onStarted: (agent) => inspector.setStatusSource(() => agent.report()) }) });
      // Exit explicitly: nats.js dial loops or timers of a stopped child must not keep the process up.
      process.exit(code);
    });
}
