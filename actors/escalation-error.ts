/**
 * An error a child throws when restarting it cannot help (e.g. NATS credentials refused for 30 s,
 * contract §2): the supervisor gives up at once and the process exits 1, so the service manager
 * restarts the process (and the operator sees it) instead of the child spinning.
 */
export class EscalationError extends Error {
  /** Marker checked by {@link isEscalation}; survives structured clones and re-wrapping by name. */
  readonly escalate = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EscalationError';
  }
}

/** True when `error` asks the supervisor to give up rather than restart. */
export function isEscalation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { escalate?: unknown }).escalate === true;
}
