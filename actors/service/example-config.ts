/**
 * The commented agent.toml that `service install` writes when the config file does not exist yet
 * (contract §12 keys; §11 paths). It is a starting point: nats_url must be edited.
 */

/** Text of the example agent.toml for `logPath` (the agent's daily log). */
export function exampleAgentToml(logPath: string): string {
  return [
    '# kanade-agent configuration (wire contract §12; see docs/configuration.md).',
    '# Written by `kanade-agent service install` because no agent.toml existed.',
    '# Edit nats_url, then restart the service (docs/service.md).',
    '',
    '[agent]',
    '# pc_id of this machine; the template takes the host name.',
    "id = '{{ system.host }}'",
    '# The kanade NATS broker: one URL, or a list of cluster URLs.',
    'nats_url = "nats://kanade.example.invalid:4222"',
    '# The NATS token comes from the environment (KANADE_NATS_TOKEN; /etc/kanade/agent.env on',
    '# Linux/macOS, HKLM\\SOFTWARE\\kanade\\agent\\NatsToken on Windows), never from this file.',
    '',
    '[log]',
    '# Daily files <stem>.<date>.<ext>; keep_days = 0 logs to stdout instead.',
    `path = ${JSON.stringify(logPath)}`,
    'level = "info"',
    'keep_days = 14',
    '',
  ].join('\n');
}
