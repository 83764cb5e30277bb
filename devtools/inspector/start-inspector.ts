/**
 * `--inspect` in one call: an inspection hub plus its loopback server. The returned `inspect`
 * is the observer for `createActor(root, { inspect })`; without `--inspect` none of this is loaded.
 */
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { createInspectionHub, type InspectionHub } from './inspection-hub.js';
import { startInspectorServer, type InspectorServer } from './inspector-server.js';
import type { InspectAddress } from './loopback.js';
import type { RedactOptions } from './redact.js';

/** Options of {@link startInspector}. */
export interface StartInspectorOptions {
  readonly address: InspectAddress;
  /** Shown in the page header (the pc_id). */
  readonly title?: string;
  /** Machine definitions whose charts exist before an actor runs them (the catalog). */
  readonly machines?: readonly AnyStateMachine[];
  readonly redact?: RedactOptions;
  readonly eventLogSize?: number;
}

/** A running inspector. */
export interface Inspector {
  readonly inspect: (event: InspectionEvent) => void;
  readonly hub: InspectionHub;
  readonly server: InspectorServer;
  /** The URL to open, with the per-run token (`http://127.0.0.1:PORT/?token=…`). */
  readonly url: string;
  /** Adds the supervisor's status report to the page (health, phases, restarts, backoff). */
  setStatusSource(report: () => unknown): void;
  close(): Promise<void>;
}

/**
 * Starts the inspector; throws `InspectorBindError` for a non-loopback address.
 *
 * @example
 * const inspector = await startInspector({ address: parseInspectAddress('4280'), title: pcId });
 * const root = createActor(rootMachine, { input, inspect: inspector.inspect });
 */
export async function startInspector(options: StartInspectorOptions): Promise<Inspector> {
  const hub = createInspectionHub({
    ...(options.redact !== undefined && { redact: options.redact }),
    ...(options.eventLogSize !== undefined && { eventLogSize: options.eventLogSize }),
  });
  for (const machine of options.machines ?? []) hub.registerMachine(machine);
  const server = await startInspectorServer({
    hub,
    host: options.address.host,
    port: options.address.port,
    ...(options.title !== undefined && { title: options.title }),
  });
  return {
    inspect: hub.inspect,
    hub,
    server,
    url: server.authUrl,
    setStatusSource: (report) => server.setStatusSource(report),
    close: () => server.close(),
  };
}
