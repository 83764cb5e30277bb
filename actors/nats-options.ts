/** NATS client options from the agent's config: servers, connection name, credentials, TLS CA (§2). */
import type { NodeConnectionOptions } from '@nats-io/transport-node';

/** Which credential to present: the contract says user/password first, the token as fallback. */
export type AuthChoice = 'user' | 'token' | 'none';

export interface Credentials {
  readonly token?: string;
  readonly user?: string;
  readonly password?: string;
  readonly caFile?: string;
}

/** The credential order to try for these credentials (§2). */
export function authOrder(credentials: Credentials): AuthChoice[] {
  const order: AuthChoice[] = [];
  if (credentials.user !== undefined && credentials.password !== undefined) order.push('user');
  if (credentials.token !== undefined) order.push('token');
  if (order.length === 0) order.push('none');
  return order;
}

/** Builds connect options; `choice` picks the credential (see {@link authOrder}). */
export function natsConnectOptions(
  servers: readonly string[],
  name: string,
  credentials: Credentials,
  choice: AuthChoice = authOrder(credentials)[0] ?? 'none',
): NodeConnectionOptions {
  const options: NodeConnectionOptions = { servers: [...servers], name };
  if (choice === 'user') {
    options.user = credentials.user;
    options.pass = credentials.password;
  } else if (choice === 'token') {
    options.token = credentials.token;
  }
  if (credentials.caFile !== undefined) options.tls = { caFile: credentials.caFile };
  return options;
}

/** Credentials from the environment (the only place they may come from, §2). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): Credentials {
  const pick = (key: string) => (env[key] !== undefined && env[key] !== '' ? env[key] : undefined);
  const out: Record<string, string> = {};
  for (const [key, name] of [
    ['token', 'KANADE_NATS_TOKEN'],
    ['user', 'KANADE_NATS_USER'],
    ['password', 'KANADE_NATS_PASSWORD'],
    ['caFile', 'KANADE_NATS_CA_FILE'],
  ] as const) {
    const value = pick(name);
    if (value !== undefined) out[key] = value;
  }
  return out;
}
