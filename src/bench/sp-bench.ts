// `dit bench sp`: FLUX.1-dev (random weights) denoising steps at sequence-parallel degrees 1..N on one host, for
// each resolution and strategy (Ulysses, ring, hybrid where the degree allows): median step time, the time inside
// the exchange host ops (transfers and collectives) per step, the bridge's own copy/NCCL split, parity of the
// sharded output against degree 1, and the cost of switching a request between degrees. Writes sp.json, SP.md
// and a measured scheduler latency profile (src/scheduler/profile.ts format).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { GpuContext } from '../gpu/context.js';
import { median } from '../gpu/timer.js';
import { compile, type Plan } from '../graph/executor.js';
import { Graph } from '../graph/graph.js';
import { exchangeOp, exchangeStats } from '../graph/ops/collective.js';
import { WeightStore } from '../graph/weights.js';
import { flux1DevConfig, type FluxConfig, tinyFluxConfig } from '../models/flux/config.js';
import { relativeError } from '../models/parity.js';
import { checkStrategy, type SpStrategy } from '../parallel/attention.js';
import { openGpus } from '../parallel/devices.js';
import { NcclGroup, probeNccl } from '../parallel/nccl.js';
import { SharedMemoryGroup } from '../parallel/shm.js';
import type { Transport } from '../parallel/transport.js';
import type { VelocityQuery } from '../pipeline/denoise-step.js';
import { SequenceParallelExecutor } from '../pipeline/sequence-parallel-executor.js';
import { makeProfile, profileToJson } from '../scheduler/profile.js';
import { randomWeightStore } from '../models/random-weights.js';
import { FlagError } from '../util/errors.js';
import { choiceListFlag, intFlag, intListFlag } from '../util/flags.js';
import { uniformArray } from '../util/random.js';

export type TransportKind = 'nccl' | 'shm';

/** Sharded output vs degree 1 (relative L2 of the velocity): the model parity tests' bound for f16 storage. */
export const SP_PARITY_BOUND = 2e-3;

export interface SpBenchOptions {
  resolutions: number[];
  degrees: number[];
  strategies: SpStrategy[];
  /** Transports to try at degrees > 1 ('nccl' skipped with a note when the bridge cannot load NCCL). */
  transports: TransportKind[];
  reps: number;
  /** Sizes (MiB each way) for the raw exchange benchmark between GPU 0 and 1; empty to skip. */
  transferMiB: number[];
  txtTokens: number;
  robustness: boolean;
  log: (s: string) => void;
  /** Called after each resolution with the report so far (the CLI rewrites sp.json: a timeout keeps partial results). */
  onProgress?: (r: SpBenchReport) => void;
  config?: FluxConfig;
  /** Tests: every rank on one device (lavapipe has one), instead of one device per GPU. */
  sameDevice?: boolean;
}

export interface SpRow {
  resolution: number;
  degree: number;
  strategy: SpStrategy | 'single';
  ulysses?: number;
  transport: TransportKind | 'none';
  stepMs: number;
  samplesMs: number[];
  /** Wall time inside exchange host ops per step, averaged over ranks (staging + transport + scatter). */
  exchangeMsPerStep: number;
  /** Bytes each rank sent per step. */
  bytesPerStepPerRank: number;
  /** NCCL bridge split per step (host->device, NCCL, device->host), when the transport is NCCL. */
  bridge?: { h2dMs: number; ncclMs: number; d2hMs: number; pinned: boolean };
  speedup: number;
  /** Output of this configuration against degree 1 (relative L2 over the velocity). */
  relL2VsDegree1: number;
  /** relL2VsDegree1 within SP_PARITY_BOUND (the timing still counts; the run's exit code says it failed). */
  parityOk?: boolean;
  compileMs: number;
  error?: string;
}

export interface SwitchRow {
  resolution: number;
  from: number;
  to: number;
  /** Extra ms of the first step on the new group (its text conditioning upload) over a step that stays. */
  ms: number;
}

export interface TransferRow {
  transport: TransportKind;
  /** Bytes each of two ranks sends to the other per exchange. */
  bytes: number;
  /** Wall ms of one exchange host op (stage to host, transport, copy into the destination tensor). */
  ms: number;
  /** bytes / ms: per-direction throughput through the host. */
  gbps: number;
  bridge?: SpRow['bridge'];
}

export interface SpBenchReport {
  model: string;
  device: string;
  gpus: number;
  ncclProbe: ReturnType<typeof probeNccl>;
  transfers: TransferRow[];
  rows: SpRow[];
  switches: SwitchRow[];
}

/**
 * One exchange host op between GPU 0 and GPU 1 (each sends `bytes` to the other): what every sequence-parallel
 * collective costs per byte through the host, for each transport.
 */
async function benchTransfers(ctxs: GpuContext[], kinds: TransportKind[], sizesMiB: number[], reps: number, log: (s: string) => void): Promise<TransferRow[]> {
  const rows: TransferRow[] = [];
  for (const kind of kinds) {
    for (const mib of sizesMiB) {
      const tr = makeTransports(kind, 2);
      const n = (mib << 20) / 2; // f16 elements
      const plans: Plan[] = [];
      try {
        for (const comm of tr.comms) {
          const g = new Graph(`xfer-r${comm.rank}`);
          const x = g.input('x', [n], 'f16');
          const peer = 1 - comm.rank;
          const [y] = exchangeOp(g, comm, {
            sends: [{ peer, tensor: x, byteOffset: 0, bytes: x.bytes }],
            recvs: [{ peer, bytes: x.bytes, place: [{ output: 0, at: 0, byteOffset: 0, bytes: x.bytes }] }],
            outputs: [{ shape: [n], dtype: 'f16' }],
          }).outputs;
          g.output('y', y);
          plans.push(await compile(ctxs[comm.rank], g, new WeightStore()));
        }
        const times: number[] = [];
        tr.stats();
        for (let i = 0; i < reps + 1; i++) {
          await Promise.all(ctxs.slice(0, 2).map((c) => c.sync()));
          const t0 = performance.now();
          await Promise.all(plans.map((p) => p.run()));
          await Promise.all(ctxs.slice(0, 2).map((c) => c.sync()));
          if (i > 0) times.push(performance.now() - t0);
        }
        const ms = median(times);
        const row: TransferRow = { transport: kind, bytes: mib << 20, ms, gbps: (mib << 20) / ms / 1e6, bridge: tr.stats() };
        rows.push(row);
        log(`[sp] transfer ${kind} ${mib} MiB each way: ${ms.toFixed(2)} ms (${row.gbps.toFixed(1)} GB/s per direction)${row.bridge ? `, bridge h2d ${row.bridge.h2dMs.toFixed(2)} / nccl ${row.bridge.ncclMs.toFixed(2)} / d2h ${row.bridge.d2hMs.toFixed(2)} ms${row.bridge.pinned ? ' (pinned Dawn staging)' : ' (bounce: cudaHostRegister refused)'}` : ''}`);
      } catch (e) {
        log(`[sp] transfer ${kind} ${mib} MiB: FAILED: ${(e as Error).message}`);
      } finally {
        for (const p of plans) p.destroy();
        tr.destroy();
      }
    }
  }
  return rows;
}

/** Strategy variants valid at a degree for `heads` (hybrid uses the largest Ulysses degree below `degree`). */
export function variants(strategies: SpStrategy[], degree: number, heads: number): { strategy: SpStrategy; ulysses?: number }[] {
  if (degree === 1) return [];
  const out: { strategy: SpStrategy; ulysses?: number }[] = [];
  for (const s of strategies) {
    if (s === 'hybrid') {
      // Ulysses inside groups, ring across them: only meaningful with at least 2 groups of at least 2.
      const u = [...Array(degree).keys()].map((i) => degree - i).find((u) => u < degree && u > 1 && degree % u === 0 && heads % u === 0);
      if (u) out.push({ strategy: s, ulysses: u });
    } else {
      try {
        checkStrategy({ strategy: s }, degree, heads);
        out.push({ strategy: s });
      } catch {
        // e.g. Ulysses at a degree that does not divide the heads
      }
    }
  }
  return out;
}

function makeTransports(kind: TransportKind, degree: number): { comms: Transport[]; stats: () => SpRow['bridge']; destroy: () => void } {
  if (kind === 'nccl') {
    const g = new NcclGroup([...Array(degree).keys()]);
    let last = { ...g.stats };
    return {
      comms: [...Array(degree).keys()].map((r) => g.member(r)),
      stats: () => {
        const s = g.stats;
        const n = Math.max(1, s.rounds - last.rounds);
        const out = { h2dMs: (s.h2dMs - last.h2dMs) / n, ncclMs: (s.ncclMs - last.ncclMs) / n, d2hMs: (s.d2hMs - last.d2hMs) / n, pinned: s.unpinnedRounds === last.unpinnedRounds };
        last = { ...s };
        return out;
      },
      destroy: () => g.destroy(),
    };
  }
  const g = new SharedMemoryGroup(degree);
  return { comms: [...Array(degree).keys()].map((r) => g.member(r)), stats: () => undefined, destroy: () => {} };
}

export async function benchSp(opts: SpBenchOptions): Promise<SpBenchReport> {
  const cfg = opts.config ?? flux1DevConfig('bfl', true);
  const maxDeg = Math.max(...opts.degrees);
  const log = opts.log;
  const ncclProbe = probeNccl();
  let ctxs: GpuContext[];
  if (maxDeg > 1 && !opts.sameDevice) {
    ctxs = await openGpus(maxDeg, { robustness: opts.robustness });
  } else {
    const one = await GpuContext.open({ robustness: opts.robustness });
    ctxs = Array.from({ length: maxDeg }, () => one);
  }
  const report: SpBenchReport = { model: opts.config ? 'FLUX (custom config)' : 'FLUX.1-dev', device: ctxs[0].caps.adapterName, gpus: new Set(ctxs).size, ncclProbe, transfers: [], rows: [], switches: [] };
  log(`[sp] ${new Set(ctxs).size} device(s) for ${ctxs.length} rank(s): ${ctxs[0].caps.adapterName}; NCCL: ${ncclProbe.ok ? `version ${ncclProbe.ncclVersion}, ${ncclProbe.devices} CUDA devices` : ncclProbe.error}`);
  const stores: WeightStore[] = [];
  try {
    if (ctxs.length >= 2 && opts.transferMiB.length) {
      report.transfers = await benchTransfers(ctxs, opts.transports.filter((t) => t !== 'nccl' || ncclProbe.ok), opts.transferMiB, opts.reps, log);
    }
    // The same seed on every device: identical weights, so every degree computes the same function.
    if (opts.resolutions.length) {
      for (const [i, ctx] of ctxs.entries()) stores.push(i > 0 && ctx === ctxs[0] ? stores[0] : (await randomWeightStore(ctx, cfg, 1)).store);
    }
    const Lt = opts.txtTokens;
    const cond = { context: uniformArray(Lt * cfg.contextInDim, 2, 0.3), tokens: Lt, pooled: uniformArray(cfg.pooledDim, 3, 0.3) };
    for (const res of opts.resolutions) {
      const lat = { channels: cfg.inChannels / 4, height: res / 8, width: res / 8 };
      const query = (c = cond): VelocityQuery => ({ family: 'flux', latentShape: lat, latents: uniformArray(lat.channels * lat.height * lat.width, 1), sigma: 0.6, distilledGuidance: 3.5, conds: [c] });
      let reference: Float32Array | null = null;
      let baseMs = 0;
      const executors = new Map<number, { ex: SequenceParallelExecutor; ms: number; release: () => void }>();
      const configs: { degree: number; strategy: SpStrategy | 'single'; ulysses?: number; transport: TransportKind | 'none' }[] = [{ degree: 1, strategy: 'single', transport: 'none' }];
      for (const d of opts.degrees.filter((x) => x > 1)) {
        for (const v of variants(opts.strategies, d, cfg.numHeads)) {
          for (const t of opts.transports) {
            if (t === 'nccl' && !ncclProbe.ok) continue;
            configs.push({ degree: d, ...v, transport: t });
          }
        }
      }
      for (const c of configs) {
        const tr = c.degree > 1 ? makeTransports(c.transport as TransportKind, c.degree) : null;
        const comms = tr?.comms ?? [{ rank: 0, size: 1 } as Transport];
        const ex = new SequenceParallelExecutor(comms.map((comm, r) => ({ ctx: ctxs[r], weights: stores[r], comm })), cfg, { strategy: c.strategy === 'single' ? 'ulysses' : c.strategy, ulysses: c.ulysses });
        const row: SpRow = { resolution: res, degree: c.degree, strategy: c.strategy, ulysses: c.ulysses, transport: c.transport, stepMs: 0, samplesMs: [], exchangeMsPerStep: 0, bytesPerStepPerRank: 0, speedup: 0, relL2VsDegree1: 0, compileMs: 0 };
        try {
          const q = query();
          const first = await ex.velocity(q); // compiles
          row.compileMs = ex.compileMs;
          if (c.degree === 1) reference = first[0];
          else if (reference) {
            const e = relativeError(first[0], reference);
            row.relL2VsDegree1 = e.nonFinite ? Infinity : e.relL2;
            row.parityOk = row.relL2VsDegree1 <= SP_PARITY_BOUND;
          }
          const x0 = comms.map((m) => ({ ...exchangeStats(m) }));
          tr?.stats();
          for (let i = 0; i < opts.reps; i++) {
            const t0 = performance.now();
            await ex.velocity(q);
            row.samplesMs.push(performance.now() - t0);
          }
          row.stepMs = median(row.samplesMs);
          const x1 = comms.map((m) => exchangeStats(m));
          row.exchangeMsPerStep = c.degree > 1 ? x1.reduce((s, x, i) => s + (x.ms - x0[i].ms), 0) / comms.length / opts.reps : 0;
          row.bytesPerStepPerRank = c.degree > 1 ? (x1[0].bytesSent - x0[0].bytesSent) / opts.reps : 0;
          row.bridge = tr?.stats();
          if (c.degree === 1) baseMs = row.stepMs;
          row.speedup = baseMs > 0 ? baseMs / row.stepMs : 0;
          log(`[sp] ${res}² degree ${c.degree} ${c.strategy}${c.ulysses ? `(u=${c.ulysses})` : ''} ${c.transport}: ${row.stepMs.toFixed(1)} ms/step` +
            (c.degree > 1 ? `, speedup ${row.speedup.toFixed(2)}x, exchange ${row.exchangeMsPerStep.toFixed(1)} ms/step (${(row.bytesPerStepPerRank / 1e6).toFixed(1)} MB/rank), relL2 vs 1 GPU ${row.relL2VsDegree1.toExponential(2)}` : '') +
            (row.bridge ? `, bridge h2d ${row.bridge.h2dMs.toFixed(2)} / nccl ${row.bridge.ncclMs.toFixed(2)} / d2h ${row.bridge.d2hMs.toFixed(2)} ms per exchange${row.bridge.pinned ? '' : ' (bounce)'}` : ''));
          // Keep the fastest executor per degree for the switch measurement.
          const prev = executors.get(c.degree);
          if (!prev || row.stepMs < prev.ms) {
            prev?.release();
            executors.set(c.degree, { ex, ms: row.stepMs, release: () => { ex.destroy(); tr?.destroy(); } });
          } else {
            ex.destroy();
            tr?.destroy();
          }
        } catch (e) {
          row.error = (e as Error).message;
          log(`[sp] ${res}² degree ${c.degree} ${c.strategy} ${c.transport}: FAILED: ${row.error}`);
          ex.destroy();
          tr?.destroy();
        }
        report.rows.push(row);
      }
      // Switch costs: a request arriving from another group brings only host state; the new group uploads its
      // slices of the cached text conditioning once (a fresh Conditioning object forces that upload).
      const degs = [...executors.keys()].sort((a, b) => a - b);
      for (const from of degs) {
        for (const to of degs) {
          if (from === to) continue;
          const exTo = executors.get(to)!.ex;
          const stay: number[] = [];
          const move: number[] = [];
          for (let i = 0; i < Math.max(2, Math.min(opts.reps, 3)); i++) {
            const qFrom = query({ ...cond });
            await executors.get(from)!.ex.velocity(qFrom);
            let t0 = performance.now();
            await exTo.velocity({ ...qFrom, conds: qFrom.conds }); // the request's first step on the new group
            move.push(performance.now() - t0);
            t0 = performance.now();
            await exTo.velocity(qFrom); // and a step that stays
            stay.push(performance.now() - t0);
          }
          const ms = Math.max(0, median(move) - median(stay));
          report.switches.push({ resolution: res, from, to, ms });
          log(`[sp] ${res}² switch ${from} -> ${to} GPUs: ${ms.toFixed(2)} ms (first step on the new group ${median(move).toFixed(1)} ms, staying ${median(stay).toFixed(1)} ms)`);
        }
      }
      for (const e of executors.values()) e.release();
      opts.onProgress?.(report);
    }
  } finally {
    for (const s of new Set(stores)) s.destroy();
    for (const c of new Set(ctxs)) c.destroy();
  }
  return report;
}

/** The measured profile: per resolution and degree the fastest configuration; group change = worst switch. */
export function spProfile(report: SpBenchReport, model = report.model) {
  const res = [...new Set(report.rows.map((r) => r.resolution))].sort((a, b) => a - b);
  const degrees = [...new Set(report.rows.filter((r) => !r.error && r.stepMs > 0).map((r) => r.degree))].sort((a, b) => a - b);
  return makeProfile({
    model: `${model} (tetriserve-ts WGSL engine, sequence parallel, batch 1, 512 text tokens)`,
    device: `${report.gpus}x ${report.device}`,
    degrees,
    entries: res.map((resolution) => {
      const best = (d: number) => report.rows.filter((r) => r.resolution === resolution && r.degree === d && !r.error && r.stepMs > 0).sort((a, b) => a.stepMs - b.stepMs)[0];
      const stepSeconds: Record<string, number> = {};
      const provenance: Record<string, string> = {};
      for (const d of degrees) {
        const b = best(d);
        if (!b) throw new Error(`no successful degree-${d} run at ${resolution}²: cannot write a measured profile`);
        stepSeconds[String(d)] = b.stepMs / 1e3;
        provenance[String(d)] = `measured: dit bench sp, median of ${b.samplesMs.length} steps, ${d === 1 ? 'one GPU' : `${b.strategy}${b.ulysses ? ` u=${b.ulysses}` : ''} over ${b.transport}`}`;
      }
      const sw = report.switches.filter((s) => s.resolution === resolution);
      provenance.groupChange = sw.length ? `measured: dit bench sp, worst of ${sw.length} degree switches (text conditioning upload to the new group)` : 'no switch measured';
      return { resolution, stepSeconds, groupChangeSeconds: sw.length ? Math.max(...sw.map((s) => s.ms)) / 1e3 : 0, provenance };
    }),
    notes: `written by dit bench sp on ${new Date().toISOString().slice(0, 10)}`,
  });
}

export function spMarkdown(report: SpBenchReport): string {
  const out = [`# Sequence parallelism: ${report.model} steps on ${report.gpus}x ${report.device}`, '',
    `NCCL: ${report.ncclProbe.ok ? `version ${report.ncclProbe.ncclVersion}` : report.ncclProbe.error}`, '',
    '| transport | MiB each way | ms per exchange | GB/s per direction | bridge h2d/nccl/d2h ms |', '|---|---:|---:|---:|---|',
    ...report.transfers.map((t) => `| ${t.transport} | ${t.bytes >> 20} | ${t.ms.toFixed(2)} | ${t.gbps.toFixed(1)} | ${t.bridge ? `${t.bridge.h2dMs.toFixed(2)}/${t.bridge.ncclMs.toFixed(2)}/${t.bridge.d2hMs.toFixed(2)}${t.bridge.pinned ? '' : ' (bounce)'}` : ''} |`),
    '',
    '| resolution | degree | strategy | transport | ms/step | speedup | exchange ms/step | MB/rank/step | relL2 vs 1 GPU | bridge h2d/nccl/d2h ms |',
    '|---:|---:|---|---|---:|---:|---:|---:|---:|---|'];
  for (const r of report.rows) {
    if (r.error) { out.push(`| ${r.resolution}² | ${r.degree} | ${r.strategy} | ${r.transport} | failed: ${r.error.slice(0, 80)} | | | | | |`); continue; }
    out.push(`| ${r.resolution}² | ${r.degree} | ${r.strategy}${r.ulysses ? ` (u=${r.ulysses})` : ''} | ${r.transport} | ${r.stepMs.toFixed(1)} | ${r.degree > 1 ? `${r.speedup.toFixed(2)}x` : ''} | ${r.degree > 1 ? r.exchangeMsPerStep.toFixed(1) : ''} | ${r.degree > 1 ? (r.bytesPerStepPerRank / 1e6).toFixed(1) : ''} | ${r.degree > 1 ? `${r.relL2VsDegree1.toExponential(2)}${r.parityOk === false ? ' (over the bound)' : ''}` : ''} | ${r.bridge ? `${r.bridge.h2dMs.toFixed(2)}/${r.bridge.ncclMs.toFixed(2)}/${r.bridge.d2hMs.toFixed(2)}${r.bridge.pinned ? '' : ' (bounce)'}` : ''} |`);
  }
  out.push('', '| resolution | from | to | switch ms |', '|---:|---:|---:|---:|');
  for (const s of report.switches) out.push(`| ${s.resolution}² | ${s.from} | ${s.to} | ${s.ms.toFixed(2)} |`);
  return `${out.join('\n')}\n`;
}


/** `dit bench sp` (registered by src/cli/bench.ts). */
export function registerSpBench(bench: Command): void {
  bench
    .command('sp')
    .description('FLUX.1-dev steps at sequence-parallel degrees (Ulysses, ring, hybrid) on this host; writes sp.json, SP.md and a measured latency profile')
    .option('--resolutions <list>', 'square resolutions ("" for the raw exchange benchmark only)', '256,512,1024,2048')
    .option('--degrees <list>', 'parallel degrees (GPUs)', '1,2')
    .option('--strategies <list>', 'ulysses, ring, hybrid', 'ulysses,ring,hybrid')
    .option('--transports <list>', 'nccl (native bridge), shm (one host copy between Dawn staging buffers)', 'nccl,shm')
    .option('--reps <n>', 'timed steps per configuration', '3')
    .option('--transfer-mib <list>', 'raw exchange sizes between GPU 0 and 1 (MiB each way; "" to skip)', '8,64,256')
    .option('--txt-tokens <n>', 'text tokens', '512')
    .option('--out <dir>', 'where to write sp.json and SP.md', 'bench/results')
    .option('--profile <file>', 'also write the measured scheduler latency profile here')
    .option('--robustness', 'keep Dawn robustness checks on (default off for benchmarks)')
    .option('--tiny', 'smoke test: a tiny random FLUX with every rank on one device (no GPU needed)')
    .action(async (o: { resolutions: string; degrees: string; strategies: string; transports: string; reps: string; transferMib: string; txtTokens: string; out: string; profile?: string; robustness?: boolean; tiny?: boolean }) => {
      const resolutions = intListFlag('--resolutions', o.resolutions, 16);
      for (const r of resolutions) if (r % 16) throw new FlagError('--resolutions', `${r} is not a multiple of 16`);
      const strategies = choiceListFlag<SpStrategy>('--strategies', o.strategies, ['ulysses', 'ring', 'hybrid']);
      const transports = choiceListFlag<TransportKind>('--transports', o.transports, ['nccl', 'shm']);
      const report = await benchSp({
        resolutions, degrees: intListFlag('--degrees', o.degrees, 1), strategies, transports, reps: intFlag('--reps', o.reps, 1), transferMiB: intListFlag('--transfer-mib', o.transferMib, 1),
        txtTokens: intFlag('--txt-tokens', o.txtTokens, 1), robustness: !!o.robustness, log: (l) => console.log(l),
        ...(o.tiny ? { config: tinyFluxConfig(), sameDevice: true } : {}),
        onProgress: (r) => {
          // Rewritten after every resolution: a run cut short by a time limit keeps what it measured.
          mkdirSync(o.out, { recursive: true });
          writeFileSync(join(o.out, 'sp.json'), JSON.stringify(r, null, 1));
          writeFileSync(join(o.out, 'SP.md'), spMarkdown(r));
          if (o.profile) {
            try {
              writeFileSync(o.profile, profileToJson(spProfile(r)));
            } catch {
              // a resolution without a successful run at every degree: the final write reports it
            }
          }
        },
      });
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, 'sp.json'), JSON.stringify(report, null, 1));
      writeFileSync(join(o.out, 'SP.md'), spMarkdown(report));
      console.log(`wrote ${join(o.out, 'sp.json')} and ${join(o.out, 'SP.md')}`);
      if (o.profile) {
        writeFileSync(o.profile, profileToJson(spProfile(report)));
        console.log(`wrote the measured latency profile ${o.profile}`);
      }
      if (report.rows.some((r) => r.error || r.parityOk === false)) process.exitCode = 1;
    });
}
