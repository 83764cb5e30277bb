/**
 * Stdin EOF as a stop request, for service hosts that cannot send signals. The Windows service host
 * (native/kanade-service-host.c) and the systemd unit set {@link STOP_ON_STDIN_EOF_ENV}=1 and close
 * the agent's stdin to ask for a graceful stop. Without the variable stdin is never read: an agent
 * started with stdin on /dev/null (systemd's default) would otherwise stop at once.
 *
 * @example
 * const unwatch = watchStdinEof(process.env, process.stdin, () => beginStop('stdin EOF'));
 */
import type { Readable } from 'node:stream';

/** The variable a service host sets to make stdin EOF mean "stop" (docs/service.md). */
export const STOP_ON_STDIN_EOF_ENV = 'KANADE_AGENT_STOP_ON_STDIN_EOF';

/** True when the environment asks for stdin EOF to stop the agent (exactly "1"). */
export function stopOnStdinEof(env: NodeJS.ProcessEnv): boolean {
  return env[STOP_ON_STDIN_EOF_ENV] === '1';
}

/**
 * When the env asks for it, drains `stdin` (input is ignored) and calls `onEof` once when it ends or
 * fails; returns a function that stops watching. Otherwise does nothing.
 */
export function watchStdinEof(env: NodeJS.ProcessEnv, stdin: Readable, onEof: (why: string) => void): () => void {
  if (!stopOnStdinEof(env)) return () => undefined;
  let fired = false;
  const fire = (why: string): void => {
    if (fired) return;
    fired = true;
    onEof(why);
  };
  const onData = (): void => undefined;
  const onEnd = (): void => fire('stdin closed');
  const onError = (error: Error): void => fire(`stdin failed: ${error.message}`);
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.on('close', onEnd);
  stdin.on('error', onError);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.off('close', onEnd);
    stdin.off('error', onError);
    stdin.pause();
  };
}
