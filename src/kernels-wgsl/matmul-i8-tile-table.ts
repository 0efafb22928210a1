// Per-device int8 tile table: which SgTiling the W8A8 linears (linearI8Calls, the int8 tensor-core kernel) use at
// which GEMM shape (K in int8 elements), chosen by a sweep on the device (bench/int8-gemm.ts --sweep times a grid of
// int8 tilings at the FLUX shapes, checks each one's output, and writes this table as JSON and as this TypeScript
// module). Same format and lookup as the f16 table (matmul-tile-table.ts; docs/matmul.md "Per-device tile table"):
// the most specific entry matching the adapter, the nearest measured shape, else the entry's default; with no
// matching entry int8Tiling falls back to its built-in rule (builtinI8Tiling). Split-K winners (`split`) are used:
// linearI8Calls may return two dispatches.
//
// To adopt a sweep's result: copy the sweep's `matmul-i8-tile-table.ts` over this file (it already merges the
// entries of other devices found here). To try a table without committing it: DIT_MATMUL_I8_TILE_TABLE=path.json
// (the sweep's int8-tile-table.json); DIT_MATMUL_I8_TILE_TABLE=off ignores every int8 table (built-in rule).
// docs/int8.md ("Int8 tile table") says how to run the sweep.
import type { TileTable } from './matmul-tile-table.js';

/** The committed int8 table, written by bench/int8-gemm.ts --sweep. */
export const I8_TILE_TABLE: TileTable = {
  "version": 1,
  "entries": [
    {
      "device": {
        "vendor": "nvidia"
      },
      "subgroupSize": 32,
      "measured": "2026-12-01T01:28:55.424Z",
      "source": "bench/int8-gemm.ts --sweep on 'NVIDIA: 580.159.04 580.159.4.0', robustness off, budget 120 s, 29 of 62 tilings screened, 6 finalists on 18 shapes; defaultTflops = the built-in rule (builtinI8Tiling)",
      "default": {
        "sgM": 2,
        "sgN": 4,
        "fragM": 4,
        "fragN": 2,
        "bk": 128,
        "staging": "staged",
        "stages": 1,
        "groupM": 8,
        "vecSmem": true,
        "pad": 16
      },
      "shapes": [
        {
          "M": 4608,
          "N": 3072,
          "K": 3072,
          "tiling": {
            "sgM": 4,
            "sgN": 2,
            "fragM": 2,
            "fragN": 4,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 393.2,
          "defaultTflops": 379.2
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
            "bk": 96,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 430.4,
          "defaultTflops": 361.9
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
            "bk": 96,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 424.7,
          "defaultTflops": 348.1
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
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 471.9,
          "defaultTflops": 471.9
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
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 474,
          "defaultTflops": 474
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
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 294.9,
          "defaultTflops": 294.9
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
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 379.2,
          "defaultTflops": 379.2
        },
        {
          "M": 1536,
          "N": 12288,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 404.5,
          "defaultTflops": 404.5
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
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 353.9,
          "defaultTflops": 353.9
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
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 368.6,
          "defaultTflops": 368.6
        },
        {
          "M": 1024,
          "N": 3072,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 294.9,
          "defaultTflops": 294.9
        },
        {
          "M": 1024,
          "N": 9216,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 353.9,
          "defaultTflops": 353.9
        },
        {
          "M": 1024,
          "N": 12288,
          "K": 3072,
          "tiling": {
            "sgM": 4,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 96,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 429,
          "defaultTflops": 393.2
        },
        {
          "M": 1024,
          "N": 3072,
          "K": 12288,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 363,
          "defaultTflops": 363
        },
        {
          "M": 512,
          "N": 3072,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 294.9,
          "defaultTflops": 294.9
        },
        {
          "M": 512,
          "N": 9216,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 294.9,
          "defaultTflops": 294.9
        },
        {
          "M": 512,
          "N": 12288,
          "K": 3072,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 393.2,
          "defaultTflops": 393.2
        },
        {
          "M": 512,
          "N": 3072,
          "K": 12288,
          "tiling": {
            "sgM": 2,
            "sgN": 4,
            "fragM": 4,
            "fragN": 2,
            "bk": 128,
            "staging": "staged",
            "stages": 1,
            "groupM": 8,
            "vecSmem": true,
            "pad": 16
          },
          "tflops": 337,
          "defaultTflops": 337
        }
      ]
    }
  ]
};
