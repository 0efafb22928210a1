// What a tile sweep writes (bench/matmul-tune.ts for the f16 table, bench/int8-gemm.ts --sweep for the int8 one):
// the committed table with this device's entry replaced, and that table as a drop-in TypeScript module.
import { readFileSync } from 'node:fs';
import type { TileTable, TileTableEntry } from '../../src/kernels-wgsl/matmul-tile-table.js';

/** The committed table with `entry` in place of the entries for the same device (vendor, architecture, subgroup size, no description); other devices' entries kept. */
export function withDeviceEntry(committed: TileTable, entry: TileTableEntry): TileTable {
  const same = (e: TileTableEntry) => e.device.vendor.toLowerCase() === entry.device.vendor.toLowerCase()
    && (e.device.architecture ?? '') === (entry.device.architecture ?? '') && !e.device.description && e.subgroupSize === entry.subgroupSize;
  return { version: 1, entries: [...committed.entries.filter((e) => !same(e)), entry] };
}

/**
 * The TypeScript module form of `table`: the committed file's header (read from `path`, relative to the repository
 * root) up to `export const <constName>`, its doc line replaced by `doc`, then the new literal.
 */
export function tileTableModule(table: TileTable, file: { path: string; constName: string; doc: string; tool: string }): string {
  let src: string;
  try {
    src = readFileSync(file.path, 'utf8');
  } catch {
    throw new Error(`${file.tool}: run from the repository root (it reads ${file.path} to write the drop-in module)`);
  }
  const marker = `export const ${file.constName}: TileTable = `;
  const at = src.indexOf(marker);
  if (at < 0) throw new Error(`${file.tool}: '${marker}' not found in ${file.path}`);
  const head = src.slice(0, at).replace(/(\/\*\* The committed (int8 )?table[^\n]*\n)+$/, '');
  return `${head}/** ${file.doc} */\n${marker}${JSON.stringify(table, null, 2)};\n`;
}
