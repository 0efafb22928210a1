// Replayable request traces: a CSV file of (arrival time, resolution, SLO[, steps]) that `dit simulate --trace`
// replays instead of a generated workload, and `--write-trace` writes from one. The SLO scale multiplies each
// row's SLO, so one trace serves a whole SLO sweep.
//
//   arrival_s,resolution,slo_s,steps
//   0.83,1024,3,50
//
// Rows need not be sorted (they are sorted by arrival); `steps` may be omitted (the run's --steps is used).
import { checkResolution } from '../scheduler/profile.js';
import type { Request } from '../scheduler/types.js';

export interface TraceRow {
  arrival: number;
  resolution: number;
  slo: number;
  steps?: number;
}

const HEADER = 'arrival_s,resolution,slo_s,steps';

/** Parses trace text; every error names the line and the fix. */
export function parseTrace(text: string, where = 'trace'): TraceRow[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const rows: TraceRow[] = [];
  let sawHeader = false;
  lines.forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    if (!sawHeader && /^arrival/i.test(line)) {
      sawHeader = true;
      return;
    }
    const cells = line.split(',').map((c) => c.trim());
    const bad = (what: string): never => {
      throw new Error(`${where} line ${i + 1}: ${what} (expected "${HEADER}", e.g. "0.83,1024,3,50")`);
    };
    if (cells.length < 3 || cells.length > 4) bad(`${cells.length} columns`);
    const [a, r, s, st] = cells.map(Number);
    if (!(Number.isFinite(a) && a >= 0)) bad(`arrival_s "${cells[0]}" must be a number >= 0`);
    if (!Number.isInteger(r)) bad(`resolution "${cells[1]}" must be an integer`);
    try {
      checkResolution(r);
    } catch (e) {
      bad((e as Error).message);
    }
    if (!(Number.isFinite(s) && s > 0)) bad(`slo_s "${cells[2]}" must be a positive number`);
    if (cells.length === 4 && cells[3] !== '' && !(Number.isInteger(st) && st >= 1)) bad(`steps "${cells[3]}" must be a positive integer`);
    rows.push({ arrival: a, resolution: r, slo: s, ...(cells.length === 4 && cells[3] !== '' ? { steps: st } : {}) });
  });
  if (rows.length === 0) throw new Error(`${where}: no requests (expected a header "${HEADER}" and one line per request)`);
  return rows.sort((x, y) => x.arrival - y.arrival);
}

/** Requests from a trace: ids in arrival order, deadline = arrival + slo x sloScale. */
export function traceRequests(rows: readonly TraceRow[], sloScale: number, defaultSteps: number): Request[] {
  if (!(sloScale > 0)) throw new Error(`SLO scale must be > 0 (got ${sloScale})`);
  return rows.map((r, id) => ({ id, resolution: r.resolution, steps: r.steps ?? defaultSteps, arrival: r.arrival, deadline: r.arrival + r.slo * sloScale }));
}

/** CSV text of a workload (SLO = deadline - arrival, i.e. at the scale it was generated with). */
export function traceText(reqs: readonly Request[]): string {
  const rows = reqs.map((q) => `${+q.arrival.toFixed(6)},${q.resolution},${+(q.deadline - q.arrival).toFixed(6)},${q.steps}`);
  return `${HEADER}\n${rows.join('\n')}\n`;
}
