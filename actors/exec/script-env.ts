/**
 * The environment a command's script gets (§8.3, our choice): the agent's own, minus the NATS
 * credentials and the signing settings, so `env` in a script cannot print `KANADE_NATS_TOKEN` into a
 * result the backend keeps for 30 days.
 *
 * @example
 * scriptEnv({ PATH: '/bin', KANADE_NATS_TOKEN: 's3cret' }, 'linux'); // { PATH: '/bin' }
 */

/** Prefixes of variables a script never sees (compared upper-cased: Windows names ignore case). */
export const SCRUBBED_ENV_PREFIXES = ['KANADE_NATS_', 'KANADE_COMMAND_SIGNING_'] as const;

/** True when a variable named `name` is withheld from scripts. */
export function isScrubbedEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return SCRUBBED_ENV_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/**
 * A copy of `env` without the scrubbed variables. On every platform the match ignores case: on
 * Windows `Kanade_Nats_Token` is the same variable, and elsewhere a lower-cased copy of a secret
 * is still the secret.
 */
export function scriptEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  // Object.keys on Windows' process.env lists each variable once, in its stored case.
  for (const name of Object.keys(env)) {
    if (!isScrubbedEnvName(name)) out[name] = env[name];
  }
  return out;
}
