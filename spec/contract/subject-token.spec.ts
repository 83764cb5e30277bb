/** Issue #13 item 5: the one subject check (contract/subject-token.ts) and the builders that use it. */
import { describe, expect, it } from 'vitest';
import {
  configKeys,
  invalidGroupNames,
  isSubjectToken,
  MAX_SUBJECT_TOKEN_BYTES,
  pcIdProblem,
  subjects,
  SubjectTokenError,
  unionGroups,
} from '../../contract/index.js';

describe('subject tokens', () => {
  it.each([
    ['job-42', true],
    ['Job_42:x', true],
    ['é', true],
    ['x'.repeat(MAX_SUBJECT_TOKEN_BYTES), true],
    ['', false],
    ['a.b', false],
    ['*', false],
    ['>', false],
    ['a>', false],
    ['a b', false],
    ['a\tb', false],
    ['a\nb', false],
    ['a\u0000b', false],
    ['a\u007fb', false],
    ['a\u2028b', false],
    ['x'.repeat(MAX_SUBJECT_TOKEN_BYTES + 1), false],
    // 128 two-byte characters are 256 bytes: the bound is bytes, not characters.
    ['é'.repeat(128), false],
  ])('%j → %s', (value, ok) => {
    expect(isSubjectToken(value)).toBe(ok);
  });

  it('builders throw SubjectTokenError instead of building a wildcard subject', () => {
    expect(() => subjects.kill('>')).toThrow(SubjectTokenError);
    expect(() => subjects.eventsStarted('*', 'pc')).toThrow(/exec_id "\*" is not a single NATS subject token/);
    expect(() => subjects.commandsGroup('a b')).toThrow(SubjectTokenError);
    expect(() => configKeys.group('x.>')).toThrow(SubjectTokenError);
    expect(() => subjects.heartbeat('pc.>')).toThrow(SubjectTokenError);
    expect(subjects.kill('job-1')).toBe('kill.job-1');
  });

  it('a pc_id may be a dotted hostname but never a wildcard or have an empty part', () => {
    expect(pcIdProblem('host.example.com')).toBeUndefined();
    expect(subjects.commandsPc('host.example.com')).toBe('commands.pc.host.example.com');
    expect(pcIdProblem('pc.*')).toMatch(/wildcard/);
    expect(pcIdProblem('pc..x')).toMatch(/empty/);
    expect(pcIdProblem('my pc')).toMatch(/whitespace/);
  });

  it('group membership keeps only token names and reports the others', () => {
    const value = { groups: ['a b', 'x.>', 'good', '', '*'] };
    expect(unionGroups(value)).toEqual(['good']);
    expect(invalidGroupNames(value)).toEqual(['a b', 'x.>', '*']);
  });
});
