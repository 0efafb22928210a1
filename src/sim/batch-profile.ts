// Measured batched step times into a latency profile: turns the model.json of `dit bench model --batch 1,2,4`
// into batchStepSeconds entries (degree 1, marked "measured: ..."), merged into an existing profile, so the
// simulator can run TetriServe+batch on measured numbers with one command:
//
//   node dist/sim/batch-profile.js bench/results/model.json                     # into profiles/flux1-dev-h200x2-sp.json
//   node dist/sim/batch-profile.js model.json --base P.json --out Q.json          # any base, any output
//   node dist/sim/batch-profile.js model.json --ratio-onto profiles/flux1-dev-h100.json --ratio-out R.json
//
// --ratio-onto also writes a derived profile: the other profile's degree-1 step times times the measured ratio
// (batch b step / batch 1 step, same resolution and run), marked "derived: ...". Batched numbers are never
// interpolated across resolutions or degrees (CostModel.batchStep): only measured (resolution, degree) pairs batch.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { makeProfile, parseProfile, profileToJson, type LatencyProfile } from '../scheduler/profile.js';

/** The parts of a model.json row this needs (src/bench/model-bench.ts ModelBenchRow). */
export interface BenchRowLike {
  model: string;
  resolution: number;
  batch?: number;
  medianMs: number;
  samplesMs?: number[];
}

export interface BenchFileLike {
  device?: string;
  date?: string;
  rows: BenchRowLike[];
}

/** Validates a parsed model.json; the message names the file and the fix. */
export function parseBenchFile(raw: unknown, where: string): BenchFileLike {
  const o = raw as Partial<BenchFileLike> | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.rows)) throw new Error(`${where}: not a model.json from \`dit bench model\` (no "rows" list)`);
  o.rows.forEach((r, i) => {
    if (typeof r?.model !== 'string' || !Number.isInteger(r.resolution) || !(r.medianMs > 0)) {
      throw new Error(`${where}: rows[${i}] lacks model/resolution/medianMs; give the model.json written by \`dit bench model --batch 1,2,4\``);
    }
  });
  return o as BenchFileLike;
}

/** Measured batch-b step time / batch-1 step time per (resolution, b >= 2) of one model's rows. */
function batchRows(bench: BenchFileLike, model: string): Map<number, { one: BenchRowLike; batched: BenchRowLike[] }> {
  const rows = bench.rows.filter((r) => r.model === model);
  const out = new Map<number, { one: BenchRowLike; batched: BenchRowLike[] }>();
  for (const r of rows) {
    if ((r.batch ?? 1) !== 1) continue;
    const batched = rows.filter((x) => x.resolution === r.resolution && (x.batch ?? 1) > 1).sort((a, b) => a.batch! - b.batch!);
    if (batched.length) out.set(r.resolution, { one: r, batched });
  }
  return out;
}

/**
 * `base` with the bench's batched rows as batchStepSeconds at degree 1 (measured) for the resolutions the base
 * profiles exactly. `mode: 'ratio'`: base step(r, 1) x measured ratio instead, marked derived (for a profile of
 * another engine or device).
 */
export function mergeBatches(base: LatencyProfile, bench: BenchFileLike, opts: { model?: string; mode?: 'measured' | 'ratio'; benchName?: string } = {}): { profile: LatencyProfile; added: string[]; warnings: string[] } {
  const model = opts.model ?? 'FLUX.1-dev';
  const mode = opts.mode ?? 'measured';
  if (!base.degrees.includes(1)) throw new Error(`the base profile has no degree 1; batched steps were measured on one GPU`);
  const rows = batchRows(bench, model);
  if (rows.size === 0) throw new Error(`${opts.benchName ?? 'bench file'}: no ${model} rows with batch > 1 next to batch 1; run \`dit bench model --flux 256,512 --sd3 '' --batch 1,2,4\``);
  const added: string[] = [];
  const warnings: string[] = [];
  const device = bench.device ?? 'unknown device';
  const entries = base.entries.map((e) => {
    const m = rows.get(e.resolution);
    if (!m) return e;
    const drift = m.one.medianMs / 1e3 / e.stepSeconds['1'] - 1;
    if (mode === 'measured' && Math.abs(drift) > 0.1) {
      warnings.push(`${e.resolution}²: this run's batch-1 step (${m.one.medianMs.toFixed(1)} ms) differs by ${(100 * drift).toFixed(0)}% from the base profile's degree-1 step ` +
        `(${(e.stepSeconds['1'] * 1e3).toFixed(1)} ms): the engine changed between the runs, so batched vs single times are not comparable; use --ratio-onto on the base instead`);
    }
    const bs: Record<string, Record<string, number>> = { ...(e.batchStepSeconds ?? {}) };
    const prov: Record<string, string> = { ...(e.provenance ?? {}) };
    for (const r of m.batched) {
      const ratio = r.medianMs / m.one.medianMs;
      const s = mode === 'measured' ? r.medianMs / 1e3 : e.stepSeconds['1'] * ratio;
      bs[String(r.batch)] = { ...(bs[String(r.batch)] ?? {}), '1': +s.toFixed(6) };
      prov[`batch${r.batch}`] = mode === 'measured'
        ? `measured: dit bench model --batch on ${device}${bench.date ? ` (${bench.date.slice(0, 10)})` : ''}, median of ${r.samplesMs?.length ?? '?'} steps, degree 1`
        : `derived: this profile's degree-1 step x measured batch ratio ${ratio.toFixed(3)} (tetriserve-ts WGSL, ${device}, batch ${r.batch} / batch 1), degree 1 only`;
      added.push(`${e.resolution}² batch ${r.batch}: ${(s * 1e3).toFixed(1)} ms (${(ratio).toFixed(2)}× batch 1, ${(ratio / r.batch!).toFixed(2)}× per image)`);
    }
    return { ...e, batchStepSeconds: bs, provenance: prov };
  });
  if (added.length === 0) throw new Error(`${opts.benchName ?? 'bench file'}: its batched resolutions (${[...rows.keys()].join(', ')}) are not among the base profile's (${base.entries.map((e) => e.resolution).join(', ')})`);
  const notes = typeof base.notes === 'object' && base.notes !== null ? (base.notes as Record<string, unknown>) : { base: base.notes };
  return {
    profile: makeProfile({
      model: base.model, device: base.device, degrees: base.degrees, entries, sources: base.sources,
      notes: { ...notes, batching: `batchStepSeconds at degree 1 ${mode === 'measured' ? 'measured' : 'derived from measured ratios'} by dit bench model --batch (${device}); other degrees do not batch` },
    }),
    added,
    warnings,
  };
}

/** The command line (argv without node and the script); returns what it printed. */
export function runBatchProfile(argvIn: string[], log: (s: string) => void = console.log): void {
  const argv = [...argvIn];
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (!v || v.startsWith('--')) throw new Error(`${name} needs a file path`);
    argv.splice(i, 2);
    return v;
  };
  const basePath = flag('--base') ?? 'profiles/flux1-dev-h200x2-sp.json';
  const outPath = flag('--out') ?? basePath;
  const ratioOnto = flag('--ratio-onto');
  const ratioOut = flag('--ratio-out');
  if (ratioOnto && !ratioOut) throw new Error('--ratio-onto needs --ratio-out <file> (the derived profile to write)');
  if (argv.length !== 1) throw new Error('usage: node dist/sim/batch-profile.js <model.json> [--base P] [--out P] [--ratio-onto P --ratio-out P]');
  const benchPath = argv[0];
  const read = (p: string): unknown => {
    try {
      return JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new Error(`cannot read ${p}: ${(e as Error).message}`);
    }
  };
  const bench = parseBenchFile(read(benchPath), benchPath);
  const m = mergeBatches(parseProfile(read(basePath), basePath), bench, { benchName: benchPath });
  writeFileSync(outPath, profileToJson(m.profile));
  log(`wrote ${outPath} (measured, degree 1):\n  ${m.added.join('\n  ')}`);
  for (const w of m.warnings) log(`warning: ${w}`);
  if (ratioOnto && ratioOut) {
    const r = mergeBatches(parseProfile(read(ratioOnto), ratioOnto), bench, { benchName: benchPath, mode: 'ratio' });
    writeFileSync(ratioOut, profileToJson(r.profile));
    log(`wrote ${ratioOut} (derived from measured ratios, degree 1):\n  ${r.added.join('\n  ')}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    runBatchProfile(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
