/**
 * One long-lived PowerShell process (node-powershell, `-NoProfile -NonInteractive`) for the Windows
 * inventory: started on first use, reused for every command, recreated when it has died, disposed
 * on shutdown. Spawning PowerShell costs about a second of CPU, so one session serves all parts.
 *
 * @example
 * const ps = createPowerShellSession();
 * const json = await ps.run('Get-CimInstance -ClassName Win32_OperatingSystem | ConvertTo-Json -Compress');
 * await ps.dispose();
 */
import type { PowerShell } from 'node-powershell';

/** Longest one inventory command may run before the session is replaced. */
export const POWERSHELL_INVOCATION_TIMEOUT_MS = 120_000;

/** What the Windows collector needs from PowerShell; tests may pass a fake. */
export interface PowerShellRunner {
  /** Runs one command and returns its stdout; rejects on a PowerShell error or a dead process. */
  run(command: string): Promise<string>;
  /** Ends the process (if any). Never rejects. */
  dispose(): Promise<void>;
}

/** Options of {@link createPowerShellSession}. */
export interface PowerShellSessionOptions {
  /** `powershell` (default on Windows) or `pwsh` (default elsewhere). */
  readonly executable?: string;
  readonly invocationTimeoutMs?: number;
  /** Called with a one-line reason when a session is replaced (for the log). */
  readonly onRestart?: (reason: string) => void;
}

interface Session {
  shell: PowerShell;
  dead: boolean;
}

/** Creates the lazily started, self-healing session. */
export function createPowerShellSession(opts: PowerShellSessionOptions = {}): PowerShellRunner {
  const executable = opts.executable ?? (process.platform === 'win32' ? 'powershell' : 'pwsh');
  let current: Session | undefined;
  let starting: Promise<Session> | undefined;

  // node-powershell is imported with the first command, so a Linux/macOS agent never loads it.
  const start = async (): Promise<Session> => {
    const { PowerShell: Shell } = await import('node-powershell');
    const shell = new Shell({
      executable,
      executableOptions: { '-NoProfile': true, '-NonInteractive': true },
      invocationTimeout: opts.invocationTimeoutMs ?? POWERSHELL_INVOCATION_TIMEOUT_MS,
      throwOnInvocationError: true,
    });
    const session: Session = { shell, dead: false };
    // child-shell rejects this private promise when the process fails to spawn or exits non-zero;
    // unobserved, that rejection would take the whole agent down as an unhandled rejection.
    const exit = (shell as unknown as { exitPromise?: Promise<void> }).exitPromise;
    void exit?.then(
      () => {
        session.dead = true;
      },
      () => {
        session.dead = true;
      },
    );
    return session;
  };

  const retire = async (session: Session, reason: string): Promise<void> => {
    if (current === session) current = undefined;
    opts.onRestart?.(reason);
    if (!session.dead) await session.shell.dispose().catch(() => undefined);
  };

  return {
    async run(command) {
      if (current?.dead) await retire(current, 'the PowerShell process exited');
      let session = current;
      if (session === undefined) {
        // One start at a time: concurrent first commands share the session being started.
        starting ??= start().finally(() => {
          starting = undefined;
        });
        session = current = await starting;
      }
      try {
        const result = await session.shell.invoke(command);
        if (result.hadErrors) throw new Error(`PowerShell: ${result.raw.trim().split('\n')[0] ?? 'error'}`);
        return result.raw;
      } catch (err) {
        // A dead or hung process is replaced; the next command starts a fresh one.
        const message = err instanceof Error ? err.message : String(err);
        if (session.dead || /exited|timed out|timeout/i.test(message)) await retire(session, message);
        throw err instanceof Error ? err : new Error(message);
      }
    },
    async dispose() {
      const session = current;
      current = undefined;
      if (session && !session.dead) await session.shell.dispose().catch(() => undefined);
    },
  };
}
