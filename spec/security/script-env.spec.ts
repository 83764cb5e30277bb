/** Issue #13 item 1: the one function that builds a script's environment, on every shell. */
import { describe, expect, it } from 'vitest';
import { startProcess } from '../../actors/exec/run-process.js';
import { isScrubbedEnvName, scriptEnv } from '../../actors/exec/script-env.js';

describe('script environment', () => {
  it('drops KANADE_NATS_* and KANADE_COMMAND_SIGNING_* in any case, keeps everything else', () => {
    const env = {
      PATH: '/bin',
      KANADE_NATS_TOKEN: 't',
      KANADE_NATS_USER: 'u',
      KANADE_NATS_PASSWORD: 'p',
      Kanade_Nats_Token: 'w',
      KANADE_COMMAND_SIGNING_KEY: 'k',
      KANADE_AGENT_DATA_DIR: '/d',
      KANADE_NATSX: 'kept',
    };
    expect(scriptEnv(env)).toEqual({ PATH: '/bin', KANADE_AGENT_DATA_DIR: '/d', KANADE_NATSX: 'kept' });
    expect(isScrubbedEnvName('kanade_command_signing_anything')).toBe(true);
  });

  it('a real sh child printing its env gets the scrubbed env', async () => {
    const proc = await startProcess({
      shell: 'sh',
      script: 'env',
      env: { PATH: process.env.PATH, KANADE_NATS_TOKEN: 'secret-token', KANADE_COMMAND_SIGNING_SEED: 'seed', VISIBLE_VAR: 'yes' },
    });
    const outcome = await proc.done;
    expect(outcome.kind).toBe('exited');
    const stdout = outcome.kind === 'exited' ? outcome.stdout : '';
    expect(stdout).toContain('VISIBLE_VAR=yes');
    expect(stdout).not.toContain('secret-token');
    expect(stdout).not.toContain('seed');
  });
});
