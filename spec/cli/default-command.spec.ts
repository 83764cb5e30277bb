/** How service managers start the executable (wire contract §10): the argv shapes that mean `run`. */
import { describe, expect, it } from 'vitest';
import { versionRequest, withDefaultCommand } from '../../bin/default-command.js';

describe('withDefaultCommand', () => {
  it.each([
    [[], ['run']],
    [
      ['--config', 'a.toml'],
      ['run', '--config', 'a.toml'],
    ],
    [
      ['-c', 'a.toml'],
      ['run', '-c', 'a.toml'],
    ],
    [['--config=a.toml'], ['run', '--config=a.toml']],
    [['--config'], ['--config']],
    [
      ['--config', '--help'],
      ['--config', '--help'],
    ],
    [
      ['--config', 'a.toml', '--inspect'],
      ['--config', 'a.toml', '--inspect'],
    ],
    [['status'], ['status']],
    [
      ['run', '--config', 'a.toml'],
      ['run', '--config', 'a.toml'],
    ],
    [['--help'], ['--help']],
  ])('%j → %j', (args, expected) => {
    expect(withDefaultCommand(args)).toEqual(expected);
  });
});

describe('versionRequest', () => {
  it.each([
    [['--version'], { json: false }],
    [['-V'], { json: false }],
    [['--version', '--json'], { json: true }],
    [['--json', '-V'], { json: true }],
    [['--json'], undefined],
    [['--version', '--version'], undefined],
    [['--version', '-V'], undefined],
    [['--version', 'status'], undefined],
    [['status', '--version'], undefined],
    [[], undefined],
  ])('%j → %j', (args, expected) => {
    expect(versionRequest(args)).toEqual(expected);
  });
});
