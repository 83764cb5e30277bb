/**
 * Files embedded in the single executable as SEA assets (docs/release.md): on win-x64 every
 * `build/native/*.exe` present at build time, under its file name, plus the index
 * `kanade-assets.json` listing them. Outside a single executable (dist/) there are none.
 *
 * @example
 * const host = embeddedAsset('kanade-service-host.exe'); // Buffer, or undefined from dist/
 */
import { getAsset, isSea } from 'node:sea';

/** The asset every release blob carries: a JSON array of the other assets' names. */
export const ASSET_INDEX = 'kanade-assets.json';

/** The bytes of asset `name`, or undefined when not a single executable or no such asset. */
export function embeddedAsset(name: string): Buffer | undefined {
  if (!isSea()) return undefined;
  try {
    return Buffer.from(getAsset(name));
  } catch {
    return undefined;
  }
}

/** Names of the embedded assets (the index excluded); [] from dist/. */
export function embeddedAssetNames(): string[] {
  const index = embeddedAsset(ASSET_INDEX);
  if (index === undefined) return [];
  try {
    const names: unknown = JSON.parse(index.toString('utf8'));
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}
