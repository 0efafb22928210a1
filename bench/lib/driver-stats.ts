// Joins the diagnostics layer's pipeline statistics (native/vk-pipeline-stats: one JSON line per compute pipeline in
// $TETRISERVE_PIPELINE_STATS, from VK_KHR_pipeline_executable_properties) to the variants a bench compiled: the bench
// writes a marker line before it builds each variant, and every pipeline line after a marker belongs to that variant
// (none when the pipeline was cached). Without the layer (variable unset) markers are skipped and the join is empty.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export interface DriverStatsRow {
  variant: string;
  workgroupSize?: number[];
  spirvBytes?: number;
  /** The driver's statistics by name (NVIDIA 580: Register Count, Binary Size, Stack Size, Local Memory Size, ...). */
  statistics: Record<string, number | boolean>;
  /** Internal representations the driver offered (name and size); NVIDIA 580 offers none. */
  representations: string[];
}

interface Line {
  marker?: string;
  error?: string;
  workgroupSize?: number[];
  spirvBytes?: number;
  executables?: { statistics: Record<string, number | boolean>; internalRepresentations: { name: string; bytes: number }[] }[];
}

const statsFile = () => process.env.TETRISERVE_PIPELINE_STATS;

/** Whether the diagnostics layer's output file is set (the bench runs under the layer). */
export const driverStatsEnabled = () => !!statsFile();

/** Marks that the pipelines built from now on belong to `variant`. */
export function markVariant(variant: string): void {
  const f = statsFile();
  if (f) appendFileSync(f, `${JSON.stringify({ marker: variant })}\n`);
}

/** Every recorded pipeline with the variant marked before it; layer errors are printed. */
export function readDriverStats(): DriverStatsRow[] {
  const f = statsFile();
  if (!f || !existsSync(f)) return [];
  const rows: DriverStatsRow[] = [];
  let current: string | null = null;
  for (const text of readFileSync(f, 'utf8').split('\n')) {
    if (!text) continue;
    const l = JSON.parse(text) as Line;
    if (l.error) console.log(`layer: ${l.error}`);
    if (l.marker) current = l.marker;
    else if (l.executables && current) {
      rows.push({
        variant: current, workgroupSize: l.workgroupSize, spirvBytes: l.spirvBytes,
        statistics: Object.assign({}, ...l.executables.map((e) => e.statistics)),
        representations: l.executables.flatMap((e) => e.internalRepresentations.map((r) => `${r.name} (${r.bytes} bytes)`)),
      });
    }
  }
  return rows;
}
