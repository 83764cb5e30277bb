/**
 * What the heartbeat says about command signing (§5.4, §6.2): `command_keys` as
 * `["<kid>:<fingerprint>"]` and `enforcing`, from the agent's keyring (actors/exec/keyring.ts,
 * shared with the executor). The ring is re-read before each periodic heartbeat (§6.2 "re-read
 * each heartbeat"); ping replies use the ring as last read.
 */
import { commandKeyStatus } from '../exec/keyring.js';
import type { AgentServices } from '../ports.js';

/** The signing facts a heartbeat carries. */
export interface CommandKeyStatus {
  readonly command_keys: readonly string[];
  readonly enforcing: boolean;
}

/** Reads the signing facts; `reload` re-reads the keyring file first. Never rejects. */
export type CommandKeyStatusReader = (services: AgentServices, opts: { reload: boolean }) => Promise<CommandKeyStatus>;

/** The reader the heartbeat uses by default: the executor's process-wide keyring. */
export const readCommandKeyStatus: CommandKeyStatusReader = commandKeyStatus;
