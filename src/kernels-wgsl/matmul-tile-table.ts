// Per-device tensor-core tile table: which SgTiling linear() uses at which GEMM shape, chosen by autotuning
// (bench/matmul-tune.ts times a grid of tilings on the device, checks each one's output, and writes this table
// as JSON and as this TypeScript module). It is data, kept in a .ts module so that it compiles into dist/ with
// everything else (no JSON copy step, no path lookup at run time).
//
// To adopt a sweep's result: copy the sweep's `matmul-tile-table.ts` over this file (it already merges the
// entries of other devices found here). To try a table without committing it: DIT_MATMUL_TILE_TABLE=path.json
// (the sweep's JSON); DIT_MATMUL_TILE_TABLE=off ignores every table (built-in defaults). docs/matmul.md explains
// the lookup.
import type { SgTiling } from './matmul-subgroup-matrix.wgsl.js';

/** A tiling without the subgroup size (the entry's subgroupSize applies). */
export type TableTiling = Omit<SgTiling, 'subgroupSize'>;

export interface TileTableShape {
  M: number;
  N: number;
  K: number;
  /** Best single-dispatch tiling measured at this shape. */
  tiling: TableTiling;
  tflops?: number;
  /** The built-in default's TFLOP/s in the same sweep, for the record. */
  defaultTflops?: number;
  /** Best split-K tiling, present only when it beat `tiling` (used by linearCalls, which may return 2 dispatches). */
  split?: { tiling: TableTiling; tflops?: number };
}

export interface TileTableEntry {
  /** Matched against the adapter: vendor (required, case-insensitive), architecture and description substring when set. */
  device: { vendor: string; architecture?: string; description?: string };
  subgroupSize: number;
  /** When, how (command, robustness) and from which run this entry was made. */
  measured?: string;
  source?: string;
  /** Used for shapes far from every measured one (best geometric mean over the swept shapes). */
  default?: TableTiling;
  shapes: TileTableShape[];
}

export interface TileTable {
  version: 1;
  entries: TileTableEntry[];
}

/** The committed table. Empty: every device uses defaultSgTiling until a sweep's table is committed here. */
export const TILE_TABLE: TileTable = {
  version: 1,
  entries: [],
};
