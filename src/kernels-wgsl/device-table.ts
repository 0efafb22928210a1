// What the per-device tuning tables (matmul-tile-table.ts, attention-table.ts) share: choosing the entry that
// matches the adapter, and loading a replacement table named by an environment variable (the autotuning sweeps'
// JSON, tried without committing it). Kept apart so that both tables match devices and report a bad file the same way.
import { readFileSync } from 'node:fs';
import type { GpuCaps } from '../gpu/context.js';

/** How a table entry names its device: vendor (required, case-insensitive), architecture and description substring when set. */
export interface DeviceMatch {
  device: { vendor: string; architecture?: string; description?: string };
  subgroupSize: number;
}

export type DeviceCaps = Pick<GpuCaps, 'vendor' | 'architecture' | 'adapterName' | 'subgroupMaxSize'>;

/**
 * The entry for this adapter: vendor and subgroup size must match; architecture / description (a substring of the
 * adapter name), when given, must too; most specific wins (description counts more than architecture), first on ties.
 */
export function matchDeviceEntry<E extends DeviceMatch>(entries: readonly E[] | undefined, caps: DeviceCaps): E | null {
  let best: E | null = null;
  let bestScore = 0;
  const lc = (x: string | undefined) => (x ?? '').toLowerCase();
  for (const e of entries ?? []) {
    if (!e.device?.vendor || lc(e.device.vendor) !== lc(caps.vendor) || e.subgroupSize !== caps.subgroupMaxSize) continue;
    let score = 1;
    if (e.device.architecture) {
      if (lc(e.device.architecture) !== lc(caps.architecture)) continue;
      score += 1;
    }
    if (e.device.description) {
      if (!lc(caps.adapterName).includes(lc(e.device.description))) continue;
      score += 2;
    }
    if (score > bestScore) [best, bestScore] = [e, score];
  }
  return best;
}

export interface EnvTableSpec<T> {
  /** Environment variable naming the JSON file; 'off' means no table. */
  env: string;
  /** The committed table, used when the variable is unset or empty. */
  committed: T;
  /** For the unreadable-file error: "a tile table", "an attention table". */
  noun: string;
  /** How to fix a bad file, ending both errors: "give the … written by bench/….ts". */
  hint: string;
  /** Checks a parsed file; throws an error starting with `what` (`ENV=path`) when it is not a table. */
  validate: (parsed: unknown, what: string) => T;
}

/**
 * A function returning the table in force: the file named by spec.env when set (read and validated once per path;
 * a changed path is re-read), null for 'off', else the committed table.
 */
export function envTableLoader<T>(spec: EnvTableSpec<T>): () => T | null {
  let cached: { path: string; table: T } | undefined;
  return () => {
    const path = process.env[spec.env];
    if (!path) return spec.committed;
    if (path === 'off') return null;
    if (cached?.path !== path) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(path, 'utf8'));
      } catch (e) {
        throw new Error(`${spec.env}=${path}: cannot read ${spec.noun} there (${(e as Error).message}); ${spec.hint}, or unset it`);
      }
      cached = { path, table: spec.validate(parsed, `${spec.env}=${path}`) };
    }
    return cached.table;
  };
}
