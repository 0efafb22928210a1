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

/** The committed table, written by bench/matmul-tune.ts. */
export const TILE_TABLE: TileTable = {
  "version": 1,
  "entries": [
    {
      "device": {
        "vendor": "nvidia"
      },
      "subgroupSize": 32,
      "measured": "2026-12-01T01:27:26.595Z",
      "source": "bench/matmul-tune.ts on 'NVIDIA: 580.159.04 580.159.4.0', robustness off, budget 120 s",
      "default": {
        "sgM": 2,
        "sgN": 4,
        "fragM": 4,
        "fragN": 2,
        "groupM": 16,
        "staging": "staged",
        "bk": 64,
        "stages": 1,
        "vecSmem": true
      },
      "shapes": [
        {
          "M": 4608,
          "N": 3072,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 64,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true
          },
          "tflops": 225.9,
          "defaultTflops": 225.9
        },
        {
          "M": 4608,
          "N": 9216,
          "K": 3072,
          "tiling": {
            "sgM": 4,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "groupM": 8,
            "staging": "staged",
            "bk": 48,
            "stages": 1,
            "vecSmem": true
          },
          "tflops": 248.8,
          "defaultTflops": 234.2
        },
        {
          "M": 4608,
          "N": 12288,
          "K": 3072,
          "tiling": {
            "sgM": 4,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "groupM": 8,
            "staging": "staged",
            "bk": 48,
            "stages": 1,
            "vecSmem": true
          },
          "tflops": 238.6,
          "defaultTflops": 235.9
        },
        {
          "M": 4608,
          "N": 3072,
          "K": 12288,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "groupM": 16,
            "staging": "staged",
            "bk": 64,
            "stages": 1,
            "vecSmem": true
          },
          "tflops": 244.1,
          "defaultTflops": 242.7
        },
        {
          "M": 4608,
          "N": 3072,
          "K": 15360,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 64,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true
          },
          "tflops": 243.5,
          "defaultTflops": 243.5
        },
        {
          "M": 1536,
          "N": 3072,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 64,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true
          },
          "tflops": 160.9,
          "defaultTflops": 160.9
        },
        {
          "M": 1536,
          "N": 9216,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 64,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true
          },
          "tflops": 221.2,
          "defaultTflops": 221.2
        },
        {
          "M": 1536,
          "N": 12288,
          "K": 3072,
          "tiling": {
            "sgM": 4,
            "sgN": 2,
            "fragM": 2,
            "fragN": 4,
            "groupM": 8,
            "staging": "staged",
            "bk": 64,
            "stages": 1,
            "vecSmem": true
          },
          "tflops": 232.1,
          "defaultTflops": 228.3
        },
        {
          "M": 1536,
          "N": 3072,
          "K": 12288,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "groupM": 16,
            "staging": "staged",
            "bk": 64,
            "stages": 1,
            "vecSmem": true
          },
          "tflops": 188.7,
          "defaultTflops": 186.3,
          "split": {
            "tiling": {
              "sgM": 2,
              "sgN": 4,
              "fragM": 4,
              "fragN": 2,
              "groupM": 16,
              "staging": "staged",
              "bk": 64,
              "stages": 1,
              "vecSmem": true,
              "splitK": 3
            },
            "tflops": 202.2
          }
        },
        {
          "M": 1536,
          "N": 3072,
          "K": 15360,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "groupM": 16,
            "staging": "staged",
            "bk": 64,
            "stages": 1,
            "vecSmem": true
          },
          "tflops": 190.3,
          "defaultTflops": 188.2,
          "split": {
            "tiling": {
              "sgM": 2,
              "sgN": 4,
              "fragM": 4,
              "fragN": 2,
              "groupM": 16,
              "staging": "staged",
              "bk": 64,
              "stages": 1,
              "vecSmem": true,
              "splitK": 2
            },
            "tflops": 205.8
          }
        }
      ]
    }
  ]
};
