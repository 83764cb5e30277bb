/**
 * What `kanade-agent --version` prints: `kanade-agent <version>` (the kanade CLI's `agent publish`
 * reads the second word, wire contract §10); with `--json`, the build facts as one JSON line.
 */
import { BUILD_INFO, type BuildInfo } from '../actors/version.js';
import { embeddedAssetNames } from '../actors/sea-asset.js';
import { isSingleExecutable } from '../actors/self-command.js';

/** `--version --json`: snake_case like every JSON the agent prints. */
export interface VersionReport extends BuildInfo {
  readonly name: 'kanade-agent';
  readonly node_version: string;
  /** `<process.platform>-<process.arch>`, e.g. `linux-x64`, `win32-x64`. */
  readonly platform: string;
  /** True for the single executable built by `npm run release`, false from dist/. */
  readonly single_executable: boolean;
  /** SEA assets embedded at build time (win-x64: the native helpers); [] from dist/. */
  readonly assets: readonly string[];
}

/** The version report of this process. */
export function versionReport(): VersionReport {
  return {
    name: 'kanade-agent',
    ...BUILD_INFO,
    node_version: process.version,
    platform: `${process.platform}-${process.arch}`,
    single_executable: isSingleExecutable(),
    assets: embeddedAssetNames(),
  };
}

/** The text for stdout, newline included. */
export function versionText(json: boolean): string {
  return json ? `${JSON.stringify(versionReport())}\n` : `kanade-agent ${BUILD_INFO.version}\n`;
}
