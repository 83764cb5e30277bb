/**
 * What the heartbeat says about command signing (§5.4, §6.2): `command_keys` as
 * `["<kid>:<fingerprint>"]` and `enforcing`. The ring is re-read before each periodic heartbeat
 * (§6.2 "re-read each heartbeat"); ping replies use the ring as last read.
 */
import type { AgentServices } from '../ports.js';

/** The signing facts a heartbeat carries. */
export interface CommandKeyStatus {
  readonly command_keys: readonly string[];
  readonly enforcing: boolean;
}

/** Reads the signing facts; `reload` re-reads the keyring file first. Never rejects. */
export type CommandKeyStatusReader = (services: AgentServices, opts: { reload: boolean }) => Promise<CommandKeyStatus>;

/** Until a keyring exists: no keys, not enforcing. */
export const noCommandKeys: CommandKeyStatusReader = async () => ({ command_keys: [], enforcing: false });

/** The reader the heartbeat uses by default. */
export const readCommandKeyStatus: CommandKeyStatusReader = noCommandKeys;
