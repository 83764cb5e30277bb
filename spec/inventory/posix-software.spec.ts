/**
 * Software lists on Linux/macOS from dpkg-query, rpm and brew output; a machine without any of
 * them gets an empty list and a note, not a failure.
 */
import { describe, expect, it } from 'vitest';
import { collectPosixSoftware, parseBrew, parseDpkg, parseRpm, type RunTool } from '../../actors/inventory/posix-software.js';

describe('posix software', () => {
  it('dpkg: installed packages only, maintainer as publisher', () => {
    const out = 'bash\t5.2.15-2+b2\tMatthias Klose <doko@debian.org>\tii \nold-thing\t1.0\tSomeone <s@x>\trc \n';
    expect(parseDpkg(out)).toEqual([
      { name: 'bash', version: '5.2.15-2+b2', publisher: 'Matthias Klose <doko@debian.org>', install_date: null },
    ]);
  });

  it('rpm: version-release, vendor, install time as a date; (none) vendor is null', () => {
    const out = 'openssl\t3.0.7-27.el9\tRed Hat, Inc.\t1700000000\ngpg-pubkey\t3228467c-613798eb\t(none)\t1690000000\n';
    expect(parseRpm(out)).toEqual([
      { name: 'openssl', version: '3.0.7-27.el9', publisher: 'Red Hat, Inc.', install_date: '2023-11-14' },
      { name: 'gpg-pubkey', version: '3228467c-613798eb', publisher: null, install_date: '2023-07-22' },
    ]);
  });

  it('brew: the last listed version', () => {
    expect(parseBrew('git 2.43.0\nnode 20.10.0 21.5.0\n\n')).toEqual([
      { name: 'git', version: '2.43.0', publisher: null, install_date: null },
      { name: 'node', version: '21.5.0', publisher: null, install_date: null },
    ]);
  });

  it('no package manager: an empty list and a note', async () => {
    const none: RunTool = async () => undefined;
    expect(await collectPosixSoftware(none)).toEqual({
      items: [],
      notes: ['no package manager found (dpkg-query, rpm, brew): software list is empty'],
    });
  });

  it('several managers are merged and sorted; a tool that fails fails the part', async () => {
    const both: RunTool = async (file) => (file === 'rpm' ? 'zlib\t1.2\tX\t0\n' : file === 'brew' ? 'awk 1.0\n' : undefined);
    expect((await collectPosixSoftware(both)).items.map((i) => i.name)).toEqual(['awk', 'zlib']);
    const broken: RunTool = async () => {
      throw new Error('dpkg-query failed: database locked');
    };
    await expect(collectPosixSoftware(broken)).rejects.toThrow('database locked');
  });
});
