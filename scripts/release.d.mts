/** Types of scripts/release.mjs for the specs that build executables (docs/release.md). */
export type TargetName = 'linux-x64' | 'linux-arm64' | 'win-x64';

export interface ReleaseFile {
  /** File name in the release directory. */
  file: string;
  /** Object name in `agent_releases` (wire contract §4). */
  key: string;
  target: TargetName;
  size: number;
  /** Lower-case hex SHA-256 of the file. */
  sha256: string;
  code_cache: boolean;
}

export interface ReleaseManifest {
  name: 'kanade-agent';
  version: string;
  commit: string;
  built_at: string;
  node_version: string;
  files: ReleaseFile[];
  /** Absolute path of the release directory (not written into manifest.json). */
  dir: string;
}

export interface BuildReleaseOptions {
  /** Default: package.json's version. */
  version?: string;
  /** Default: all targets. */
  targets?: TargetName[];
  /** Default: release/<version>/ in the repository. */
  outDir?: string;
  /** 'auto' (default): code cache for the host's own target only; false: none. */
  codeCache?: 'auto' | boolean;
  /** Build native/*.c (scripts/build-native.mjs) before a win-x64 build; default true. */
  nativeHelpers?: boolean;
  log?: (line: string) => void;
}

export const ROOT: string;
export const NATIVE_ASSET_DIR: string;
export const TARGETS: Record<
  TargetName,
  {
    nodePackage: string;
    binaryInPackage: string;
    platform: NodeJS.Platform;
    arch: string;
    key(version: string): string;
    file(version: string): string;
  }
>;
export function buildRelease(opts?: BuildReleaseOptions): Promise<ReleaseManifest>;
export function bundle(opts: {
  buildInfo: { version: string; commit: string; built_at: string };
  outFile: string;
}): Promise<{ file: string; metafile: import('esbuild').Metafile }>;
export function nativeAssets(target: TargetName, dir?: string): Promise<Record<string, string>>;
export function stripPeSignature(image: Buffer): Buffer;
export function nodeBinary(target: TargetName, opts?: { nodeVersion?: string; log?: (line: string) => void }): Promise<string>;
export function nodeCacheDir(env?: NodeJS.ProcessEnv): string;
export function hostTarget(): TargetName | undefined;
