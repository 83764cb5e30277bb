/**
 * How service managers start the agent (wire contract §10): with no arguments, or with only
 * `--config FILE`, the executable runs the agent. Both shapes become `run …`; anything else is
 * left for commander, so `kanade-agent --help` and every sub-command behave as before.
 *
 * @example
 * withDefaultCommand([]);                       // ['run']
 * withDefaultCommand(['--config', 'a.toml']);   // ['run', '--config', 'a.toml']
 * withDefaultCommand(['status']);               // ['status']
 */
export function withDefaultCommand(args: readonly string[]): string[] {
  if (args.length === 0) return ['run'];
  const [first, second] = args;
  if (args.length === 2 && (first === '--config' || first === '-c') && second !== undefined && !second.startsWith('-'))
    return ['run', ...args];
  if (args.length === 1 && first !== undefined && /^--config=./.test(first)) return ['run', ...args];
  return [...args];
}

/** The version request: `--version` or `-V`, optionally with `--json`, and nothing else. */
export function versionRequest(args: readonly string[]): { json: boolean } | undefined {
  const flags = new Set(args);
  if (flags.size !== args.length || args.length === 0 || args.length > 2) return undefined;
  const version = flags.has('--version') || flags.has('-V');
  if (!version || (flags.has('--version') && flags.has('-V'))) return undefined;
  if (args.length === 2 && !flags.has('--json')) return undefined;
  return { json: flags.has('--json') };
}
