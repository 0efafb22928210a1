// Per-device tuning table of the tensor-core attention kernel: which tiles (subgroups, key block, K/V loading,
// row reduction, split-KV) attention() uses per head dim and sequence-length class, chosen by autotuning
// (bench/attention-tune.ts times a grid of variants on the device, checks each one's output against a float64
// reference, and writes this table as JSON and as this TypeScript module). Same conventions as the matmul tile
// table (matmul-tile-table.ts): data in a .ts module so that it compiles into dist/.
//
// To adopt a sweep's result: copy the sweep's `attention-table.ts` over this file (it keeps the entries of other
// devices found here). To try a table without committing it: DIT_ATTENTION_TABLE=path.json (the sweep's JSON);
// DIT_ATTENTION_TABLE=off ignores every table (built-in defaults). docs/attention.md explains the lookup.
import { envTableLoader, matchDeviceEntry, type DeviceCaps } from './device-table.js';
import type { SubgroupMatrixTuning } from './attention-subgroup-matrix.wgsl.js';

/** Sequence-length classes (query length): FLUX 512² = 1536 tokens is short, 1024² medium, 2048² long. */
export type LengthClass = 'short' | 'medium' | 'long';
export const LENGTH_CLASSES: LengthClass[] = ['short', 'medium', 'long'];

export function lengthClass(Sq: number): LengthClass {
  return Sq < 3072 ? 'short' : Sq < 10240 ? 'medium' : 'long';
}

export interface AttentionTableRow {
  D: number;
  lengthClass: LengthClass;
  tiles: SubgroupMatrixTuning;
  /** What the sweep measured for these tiles (sequence length, TFLOP/s) and for the built-in default. */
  S?: number;
  tflops?: number;
  defaultTflops?: number;
}

export interface AttentionTableEntry {
  /** Matched against the adapter: vendor (required, case-insensitive), architecture and description substring when set. */
  device: { vendor: string; architecture?: string; description?: string };
  subgroupSize: number;
  /** When, how and from which run this entry was made. */
  measured?: string;
  rows: AttentionTableRow[];
}

export interface AttentionTable {
  version: 1;
  entries: AttentionTableEntry[];
}

/**
 * The committed table. H200: the eighth session's sweep (2026-12-01 01:30 UTC, bench/results/h200-2026-12-01-session8-tune,
 * after the 16-byte output stores cut the fixed cost per workgroup from ~29 to ~7 µs): D=128 `nsg8 bkv32 staged
 * shuffle veckv prefetch interleave vecout` at 4608 / 16896 tokens (185.2 / 200.1 TFLOP/s), the same split-KV in 3
 * at 1536 (142.6: 288 workgroups of 128 rows are 2.2 waves of the H200's 132 one-per-SM slots; split, 864 shorter
 * ones), D=64 4 subgroups (121.9 at 4429; the previous 8-subgroup row 106.7 with vecOut). Every variant passed the
 * sweep's float64 checks and the small-shape checks. D=64 rows per length class from the ninth session's split-KV
 * measurement (2026-12-01 03:00 UTC, bench/results/h200-2026-12-01-session9-attention-d64, bench/attention-waves.ts,
 * float64-checked, two runs each): split in 2 at SD3 1024²'s 4429 tokens (125.8 against 122.0 unsplit), unsplit at
 * 1357 (118.6; split 2 / 3: 107.4 / 101.8) and at 16717 (134.4; split 2 the same).
 */
export const ATTENTION_TABLE: AttentionTable = {
  "version": 1,
  "entries": [
    {
      "device": {
        "vendor": "nvidia",
        "description": "NVIDIA: 580.159.04 580.159.4.0"
      },
      "subgroupSize": 32,
      "measured": "2026-12-01T01:30:28.240Z bench/attention-tune.ts robustness off",
      "rows": [
        {
          "D": 64,
          "lengthClass": "medium",
          "tiles": {
            "NSG": 4,
            "BKV": 32,
            "kvLoad": "staged",
            "reduce": "shuffle",
            "splits": 2,
            "vecKv": true,
            "prefetch": true,
            "vecOut": true
          },
          "S": 4429,
          "tflops": 125.8,
          "defaultTflops": 71.6
        },
        {
          "D": 64,
          "lengthClass": "short",
          "tiles": {
            "NSG": 4,
            "BKV": 32,
            "kvLoad": "staged",
            "reduce": "shuffle",
            "splits": 1,
            "vecKv": true,
            "prefetch": true,
            "vecOut": true
          },
          "S": 1357,
          "tflops": 118.6
        },
        {
          "D": 64,
          "lengthClass": "long",
          "tiles": {
            "NSG": 4,
            "BKV": 32,
            "kvLoad": "staged",
            "reduce": "shuffle",
            "splits": 1,
            "vecKv": true,
            "prefetch": true,
            "vecOut": true
          },
          "S": 16717,
          "tflops": 134.4
        },
        {
          "D": 128,
          "lengthClass": "long",
          "tiles": {
            "NSG": 8,
            "BKV": 32,
            "kvLoad": "staged",
            "reduce": "shuffle",
            "splits": 1,
            "vecKv": true,
            "prefetch": true,
            "interleave": true,
            "vecOut": true
          },
          "S": 16896,
          "tflops": 200.1,
          "defaultTflops": 147.9
        },
        {
          "D": 128,
          "lengthClass": "medium",
          "tiles": {
            "NSG": 8,
            "BKV": 32,
            "kvLoad": "staged",
            "reduce": "shuffle",
            "splits": 1,
            "vecKv": true,
            "prefetch": true,
            "interleave": true,
            "vecOut": true
          },
          "S": 4608,
          "tflops": 185.2,
          "defaultTflops": 135.1
        },
        {
          "D": 128,
          "lengthClass": "short",
          "tiles": {
            "NSG": 8,
            "BKV": 32,
            "kvLoad": "staged",
            "reduce": "shuffle",
            "splits": 3,
            "vecKv": true,
            "prefetch": true,
            "interleave": true,
            "vecOut": true
          },
          "S": 1536,
          "tflops": 142.6,
          "defaultTflops": 74.6
        }
      ]
    }
  ]
};

/** Environment variable naming an attention-table JSON that replaces the committed one ('off': no table). */
export const ATTENTION_TABLE_ENV = 'DIT_ATTENTION_TABLE';

const ATTENTION_TABLE_HINT = 'give the attention-table.json written by bench/attention-tune.ts';

/** Validates a parsed table; `what` names its origin in the error. */
export function checkAttentionTable(t: unknown, what: string): AttentionTable {
  const tab = t as Partial<AttentionTable> | null;
  if (!tab || tab.version !== 1 || !Array.isArray(tab.entries) || tab.entries.some((e) => !e?.device?.vendor || !Array.isArray(e.rows))) {
    throw new Error(`${what}: not an attention table (needs {"version": 1, "entries": [{"device": {"vendor": ...}, "rows": [...]}]}); ` +
      ATTENTION_TABLE_HINT);
  }
  return tab as AttentionTable;
}

/** The table in force: $DIT_ATTENTION_TABLE's file when set (read once per path), else the committed one. */
export const activeAttentionTable: () => AttentionTable | null = envTableLoader<AttentionTable>({
  env: ATTENTION_TABLE_ENV,
  committed: ATTENTION_TABLE,
  noun: 'an attention table',
  hint: ATTENTION_TABLE_HINT,
  validate: checkAttentionTable,
});

type Caps = DeviceCaps;

/** The table entry for this adapter: vendor must match; architecture / description, when given, must too; most specific wins. */
export function attentionTableEntry(caps: Caps, table: AttentionTable | null = activeAttentionTable()): AttentionTableEntry | null {
  return matchDeviceEntry(table?.entries, caps);
}

/**
 * The tuned tiles for head dim D and query length Sq on this adapter, or null (no entry / no row for D). The row of
 * Sq's length class wins; else the nearest measured class of the same D.
 */
export function tableAttentionTiles(caps: Caps, D: number, Sq: number, table: AttentionTable | null = activeAttentionTable()): SubgroupMatrixTuning | null {
  const e = attentionTableEntry(caps, table);
  const rows = e?.rows.filter((r) => r.D === D) ?? [];
  if (!rows.length) return null;
  const want = LENGTH_CLASSES.indexOf(lengthClass(Sq));
  const dist = (r: AttentionTableRow) => Math.abs(LENGTH_CLASSES.indexOf(r.lengthClass) - want);
  const best = rows.reduce((a, r) => (dist(r) < dist(a) ? r : a));
  return { ...best.tiles };
}
