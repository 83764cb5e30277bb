/** Numbers fixed by the wire contract (`../shared/kanade-wire.md`), with units in their names. */

/** Output larger than this (UTF-8 bytes) goes to object store `result_output` (§8.5). */
export const STDOUT_INLINE_THRESHOLD_BYTES = 256 * 1024;
/** Captured bytes kept per stream: 32 × 256 KiB = 8 MiB (§8.5). */
export const MAX_CAPTURE_BYTES = 32 * 256 * 1024;
/** `scripts` objects larger than this are refused (§8.3). */
export const MAX_SCRIPT_OBJECT_BYTES = 4 * 1024 * 1024;
/** PubAck wait for results, events and obs (§3, §9). */
export const PUB_ACK_TIMEOUT_MS = 30_000;
/** Capture keeps reading this long after the process exits (§8.4). */
export const OUTPUT_DRAIN_GRACE_MS = 2_000;
/** A kill escalates from SIGTERM to SIGKILL after at most this (§8.4). */
export const KILL_ESCALATION_MS = 5_000;
/** `kill.<exec_id>` subscription arm timeout (§3). */
export const KILL_ARM_TIMEOUT_MS = 2_000;
/** Backend's online threshold for heartbeats (§5.4). */
export const ALIVE_THRESHOLD_MS = 2 * 60_000;
/** Default heartbeat period (§5.6). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000;
/** Default self-update jitter (§5.6). */
export const DEFAULT_TARGET_VERSION_JITTER_MS = 10 * 60_000;
/** v2 envelope: allowed clock skew of `Kanade-Sig-At` into the future (§6.3). */
export const FUTURE_SKEW_ALLOWANCE_MS = 60 * 60_000;
/** v2 envelope: longest validity `expires_at − at` (§6.3). */
export const MAX_ENVELOPE_VALIDITY_MS = 7 * 86_400_000;
/** EXEC stream retention, the base of ledger tombstone lifetime (§7). */
export const COMMAND_STREAM_MAX_AGE_MS = 7 * 86_400_000;
/** Ledger tombstones live this long past admission/finish (§7: 7 d + 1 d). */
export const ADMISSION_TOMBSTONE_MS = COMMAND_STREAM_MAX_AGE_MS + 86_400_000;
/** Ledger caps (§7). */
export const ADMISSION_MAX_RECORDS = 100_000;
export const ADMISSION_MAX_BYTES = 1024 * 1024 * 1024;
/** Outbox drain tick, per-file backoff and quarantine threshold (§9). */
export const OUTBOX_TICK_MS = 1_000;
export const OUTBOX_BACKOFF_BASE_MS = 1_000;
export const OUTBOX_BACKOFF_CAP_MS = 300_000;
export const OUTBOX_WARN_AFTER_FAILURES = 5;
export const OUTBOX_QUARANTINE_AFTER_FAILURES = 10;
/** Resource wait: 1 s doubling to 300 s, ±25 % jitter (§4). */
export const RESOURCE_RETRY_BASE_MS = 1_000;
export const RESOURCE_RETRY_CAP_MS = 300_000;
export const RESOURCE_RETRY_JITTER = 0.25;
/** Authorization refused this long ⇒ exit 1 (§2). */
export const AUTH_REFUSED_GIVE_UP_MS = 30_000;
/** Liveness probe period (§2). */
export const LIVENESS_PROBE_INTERVAL_MS = 15_000;
/** Inventory cadence (§5.5). */
export const DEFAULT_INVENTORY_INTERVAL_MS = 24 * 3_600_000;
export const DEFAULT_INVENTORY_JITTER_MS = 10 * 60_000;

/** Exit codes in ExecResult (§5.3). */
export const EXIT_KILLED = -1;
export const EXIT_RESTARTED_OUTCOME_UNKNOWN = 121;
export const EXIT_SKIP_UNSUPPORTED = 122;
export const EXIT_REJECTED_UNSIGNED = 123;
export const EXIT_SKIP_VERSION_PIN = 124;
export const EXIT_SKIP_DEADLINE = 125;
export const EXIT_SKIP_REVOKED = 126;
export const EXIT_SKIP_STALENESS = 127;

/** Process exit codes of the agent itself. */
export const PROCESS_EXIT_SELF_UPDATE = 64;
export const PROCESS_EXIT_CONFIG = 78;
export const PROCESS_EXIT_FAILURE = 1;
/** Another live agent holds the data dir's lock (sysexits EX_TEMPFAIL: it may stop later); nothing was touched. */
export const PROCESS_EXIT_ALREADY_RUNNING = 75;

/** UUIDv5 namespace for deterministic ids (§1). */
export const UUID_NAMESPACE_OID = '6ba7b812-9dad-11d1-80b4-00c04fd430c8';

/** Protocols advertised in every heartbeat (§5.4). */
export const COMMAND_PROTOCOLS = ['legacy', 'kanade.command.v2'] as const;
/** The v2 envelope's `kind` (§5.2). */
export const ENVELOPE_V2_KIND = 'kanade.command.v2';
