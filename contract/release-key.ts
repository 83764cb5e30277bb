/**
 * Object names in `agent_releases` (wire contract §4): Windows `<version>`; Linux and macOS
 * `<version>-<os>-<arch>`. The release build (scripts/release.mjs) names its files the same way.
 */

/** The platforms the contract names a key for, as Node spells them (`process.platform-process.arch`). */
export const AGENT_RELEASE_SUFFIX: Readonly<Record<string, string>> = {
  'win32-x64': '',
  'linux-x64': '-linux-x86_64',
  'linux-arm64': '-linux-aarch64',
  'darwin-arm64': '-macos-aarch64',
};

/** Semver as the release build accepts it: versions become file names and object keys. */
export const RELEASE_VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** The key of `version` for a Node platform (`linux`, `win32`, …) and arch; undefined if the contract names none. */
export function agentReleaseKey(version: string, platform: string, arch: string): string | undefined {
  const suffix = AGENT_RELEASE_SUFFIX[`${platform}-${arch}`];
  return suffix === undefined ? undefined : `${version}${suffix}`;
}

/** Every key the contract allows for `version`. */
export function agentReleaseKeys(version: string): string[] {
  return Object.values(AGENT_RELEASE_SUFFIX).map((suffix) => `${version}${suffix}`);
}
