/** OS name/version/build from os-release(5) and `sw_vers`, as `hw` reports them. */
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { parseOsRelease, parseSwVers, readOsRelease } from '../../actors/inventory/os-release.js';

describe('os release', () => {
  it('parses os-release with quoted and unquoted values', () => {
    expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n')).toEqual({
      name: 'Debian GNU/Linux',
      version: '12',
      build: '',
    });
    expect(parseOsRelease("NAME='Fedora Linux'\nVERSION_ID=39\nBUILD_ID=rawhide\n")).toEqual({
      name: 'Fedora Linux',
      version: '39',
      build: 'rawhide',
    });
    expect(parseOsRelease('ID=alpine\nVERSION="3.19"\n')).toEqual({ name: 'alpine', version: '3.19', build: '' });
  });

  it('parses sw_vers', () => {
    expect(parseSwVers('ProductName:\t\tmacOS\nProductVersion:\t\t14.2.1\nBuildVersion:\t\t23C71\n')).toEqual({
      name: 'macOS',
      version: '14.2.1',
      build: '23C71',
    });
  });

  it('reads this Linux machine', async () => {
    const release = await readOsRelease();
    expect(release.name.length).toBeGreaterThan(0);
    expect(os.platform()).toBe('linux');
  });
});
