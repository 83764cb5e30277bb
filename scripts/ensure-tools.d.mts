/** Types for scripts/ensure-tools.mjs, so specs can find the tools it ensures. */
export interface ToolRow {
  bin: string;
  pkg: string;
  why: string;
  env?: string;
}
export interface Located {
  path?: string;
  badOverride?: string;
}
export declare const TOOLS: readonly ToolRow[];
export declare const EXTRA_DIRS: readonly string[];
export declare function locate(row: ToolRow, env?: NodeJS.ProcessEnv): Located;
export declare function installHint(missing: readonly ToolRow[]): string;
export declare function ensure(names: readonly string[]): number;
