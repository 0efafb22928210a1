// Regression guard for `dit bench model --compare <old.json>`: matches the rows of two model.json files (same model,
// resolution and, where present, batch) and flags every row whose median step time grew by more than a threshold
// (default 5%). Pure functions on parsed JSON: the CLI prints the table and sets the exit status; tests feed it
// synthetic files, no GPU needed.
import { UserInputError } from '../util/errors.js';

/** The fields of a model.json row the comparison reads (ModelBenchRow has more; older files may lack `batch`). */
export interface ComparableRow {
  model: string;
  resolution: number;
  medianMs: number;
  batch?: number;
}

export interface CompareLine {
  model: string;
  resolution: number;
  batch?: number;
  oldMs?: number;
  newMs?: number;
  /** newMs / oldMs - 1 (positive: slower). */
  change?: number;
  status: 'ok' | 'faster' | 'SLOWER' | 'only in old' | 'only in new';
}

export interface CompareResult {
  lines: CompareLine[];
  regressions: CompareLine[];
  thresholdPct: number;
}

/** Parses a model.json (already JSON-parsed) into its rows; `what` names the file in the error. */
export function modelJsonRows(data: unknown, what: string): ComparableRow[] {
  const rows = (data as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) throw new UserInputError(`${what}: has no "rows" list; give a model.json written by \`dit bench model\``, 'BAD_FILE');
  return rows.map((r, i) => {
    const row = r as Partial<ComparableRow>;
    if (typeof row.model !== 'string' || typeof row.resolution !== 'number' || typeof row.medianMs !== 'number' || !(row.medianMs > 0)) {
      throw new UserInputError(`${what}: row ${i} lacks model/resolution/medianMs (> 0); give a model.json written by \`dit bench model\``, 'BAD_FILE');
    }
    return { model: row.model, resolution: row.resolution, medianMs: row.medianMs, batch: typeof row.batch === 'number' ? row.batch : undefined };
  });
}

const key = (r: ComparableRow) => `${r.model}\u0000${r.resolution}\u0000${r.batch ?? 1}`;

/** Compares new rows against old ones; a row is a regression when newMs > oldMs * (1 + thresholdPct / 100). */
export function compareModelRows(oldRows: ComparableRow[], newRows: ComparableRow[], thresholdPct = 5): CompareResult {
  if (!(thresholdPct >= 0)) throw new Error(`compareModelRows: threshold ${thresholdPct}% must be >= 0`);
  const old = new Map(oldRows.map((r) => [key(r), r]));
  const lines: CompareLine[] = [];
  const seen = new Set<string>();
  for (const n of newRows) {
    const o = old.get(key(n));
    seen.add(key(n));
    const base = { model: n.model, resolution: n.resolution, batch: n.batch, newMs: n.medianMs };
    if (!o) {
      lines.push({ ...base, status: 'only in new' });
      continue;
    }
    const change = n.medianMs / o.medianMs - 1;
    // Exact threshold comparison on the times themselves (not on a rounded percentage).
    const slower = n.medianMs > o.medianMs * (1 + thresholdPct / 100);
    const faster = n.medianMs < o.medianMs * (1 - thresholdPct / 100);
    lines.push({ ...base, oldMs: o.medianMs, change, status: slower ? 'SLOWER' : faster ? 'faster' : 'ok' });
  }
  for (const o of oldRows) {
    if (!seen.has(key(o))) lines.push({ model: o.model, resolution: o.resolution, batch: o.batch, oldMs: o.medianMs, status: 'only in old' });
  }
  return { lines, regressions: lines.filter((l) => l.status === 'SLOWER'), thresholdPct };
}

/** Markdown table (also readable as plain text) of a comparison, regressions marked. */
export function compareMarkdown(res: CompareResult, oldName: string, newName: string): string {
  const fmt = (x?: number) => (x === undefined ? '–' : x.toFixed(1));
  const out = [
    `Step-time comparison: ${newName} against ${oldName} (flag: more than ${res.thresholdPct}% slower)`,
    '',
    '| model | res | batch | old ms | new ms | change | status |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const l of res.lines) {
    const ch = l.change === undefined ? '–' : `${l.change >= 0 ? '+' : ''}${(l.change * 100).toFixed(1)}%`;
    out.push(`| ${l.model} | ${l.resolution}² | ${l.batch ?? 1} | ${fmt(l.oldMs)} | ${fmt(l.newMs)} | ${ch} | ${l.status === 'SLOWER' ? '**SLOWER**' : l.status} |`);
  }
  out.push('', res.regressions.length
    ? `${res.regressions.length} row(s) more than ${res.thresholdPct}% slower: ${res.regressions.map((l) => `${l.model} ${l.resolution}²`).join(', ')}`
    : `no row more than ${res.thresholdPct}% slower`);
  return out.join('\n') + '\n';
}

/** Exit status of `dit bench model --compare` when a row regressed (distinct from errors: 2-6, 70; non-finite: 1). */
export const REGRESSION_EXIT_CODE = 10;
