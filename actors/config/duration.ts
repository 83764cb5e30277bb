/**
 * Humantime durations for `agent.toml` (`[inventory] interval = "24h"`, `jitter = "10m"`).
 *
 * The brief planned a private parser here until `contract/` had one. `contract/humantime.ts` now
 * exists with the same signature and reads the KV durations of contract §1, so this module only
 * re-exports it: one grammar for the file and for KV policy, and the config loader keeps a single
 * import to repoint if the contract owner moves it.
 *
 * @example
 * parseDurationMs('1h 30m'); // 5_400_000
 * parseDurationMs('1m30s'); // 90_000
 * parseDurationMs('soon'); // undefined
 */
export { parseDurationMs } from '../../contract/humantime.js';
