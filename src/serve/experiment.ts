// The serving experiment of issue 11 on a GPU machine: the paper's workload (Poisson arrivals, Uniform and
// Skewed resolution mixes, per-resolution SLOs) scaled to this cluster, replayed live through the HTTP server
// (replay.ts) once per policy with the same arrivals, and the simulator run on the same trace with the measured
// profile. Writes serve-experiment.json and serve-experiment.md after every run, so a run cut by the caller's
// time limit keeps what finished; a time budget skips (and reports) runs that would not fit.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeProfile, type LatencyProfile } from '../scheduler/profile.js';
import { generateWorkload, type Mix } from '../sim/workloads.js';
import { defaultConfig } from './config.js';
import { replayLive, replaySimulated, simulateTrace, type ReplayResult } from './replay.js';
import { measuredProfile } from './pool.js';
import { openPool } from './server.js';

export interface ExperimentOptions {
  model: string;
  gpus: number;
  sharedAdapter: boolean;
  resolutions: number[];
  steps: number;
  /** Seconds of arrivals per run. */
  seconds: number;
  ratePerMin: number;
  /** Base SLO of a resolution = sloFactor x steps x its measured step time (the paper's SLO/solo-latency ratio is ~1.5). */
  sloFactor: number;
  sloScale: number;
  mixes: Mix[];
  policies: string[];
  seed: number;
  txtTokens: number;
  robustness: boolean;
  /** Engines on the engine thread (default true) or on the HTTP thread (the A/B for status latency). */
  engineThread?: boolean;
  maxDegree: number;
  /**
   * Seconds of process time (process.uptime) the whole experiment may use: a run that would not fit is skipped
   * and reported, and each run's tail is cut to fit (default: no budget).
   */
  budgetSeconds?: number;
  /** Seconds after a run's last arrival before unfinished requests are cancelled and counted missed (default 20). */
  tailLimitSeconds?: number;
  /** Per-request status polling period, ms (default 100); the extra poller runs at 20 Hz. */
  pollMs?: number;
  out: string;
  log: (s: string) => void;
}

/** What a run's report takes unchanged from the live replay (documented on ReplayResult). */
const LIVE_FIELDS = [
  'wallSeconds', 'decisionMsMedian', 'stepsByDegree', 'statusMs', 'statusMsAll', 'statusMsExternal', 'submitMs', 'eventLoopDelayMs', 'blocks',
  'engineSyncMs', 'deadlineSkewMsMax', 'serverMet', 'cut', 'boundaryMisses', 'boundaryHolds', 'stageSeconds', 'gpuBusySeconds',
] as const satisfies readonly (keyof ReplayResult)[];

type LiveFields = Pick<ReplayResult, (typeof LIVE_FIELDS)[number]>;

function liveFields(live: ReplayResult): LiveFields {
  const out = {} as LiveFields;
  for (const k of LIVE_FIELDS) (out as Record<string, unknown>)[k] = live[k];
  return out;
}

export interface RunReport extends LiveFields {
  policy: string;
  live: number;
  /** The simulator's prediction: the same trace with the start-up profile. */
  simulatedStartupProfile: number;
  /** The simulator with the service profile measured during this run (live steps + encode/decode). */
  simulatedServiceProfile: number;
  /** Simulated (start-up profile) - live, in points: the prediction error the issue bounds at 5. */
  gapPoints: number;
  /** Simulated (service profile) - live, in points: what is left once the profile's error is taken out. */
  gapServicePoints: number;
  /** Median live seconds per step by "degree:resolution" (ReplayResult.stepSecondsByDegree). */
  liveStepSeconds: Record<string, number>;
  /** The first 20 non-2xx answers. */
  httpErrors: string[];
  perResolution: Record<number, { n: number; met: number }>;
  /** Missed requests that finished within 10% of their SLO after the deadline. */
  nearMisses: number;
  /** Where |gapPoints| > 5: measured reasons (profile error, encode/decode share, cut tail, near misses). */
  notes: string[];
  /** Every request: trace times, live and simulated (start-up profile) finish, met (seconds from the run's start). */
  requests: { id: number; resolution: number; arrival: number; deadline: number; liveFinish: number | null; liveMet: boolean; simFinish: number | null; simMet: boolean; state: string }[];
}

export interface MixReport {
  mix: Mix;
  requests: number;
  baseSlo: Record<number, number>;
  runs: RunReport[];
  /** Policies not run because the time budget would not fit them. */
  skipped: string[];
  /** Runs that threw (the experiment goes on with the next policy). */
  failed: { policy: string; error: string }[];
}

export interface ExperimentReport {
  options: Omit<ExperimentOptions, 'log'>;
  startupSeconds: number;
  profile: LatencyProfile;
  mixes: MixReport[];
}

/** A profile whose step time includes each request's encode + decode spread over its steps (what a GPU really spends). */
function serviceProfile(base: LatencyProfile, r: ReplayResult, steps: number): LatencyProfile {
  return makeProfile({
    model: base.model,
    device: base.device,
    degrees: base.degrees,
    entries: base.entries.map((e) => {
      const stage = r.stageSeconds[e.resolution] ?? 0;
      // Live median step at each degree where the run used it, else the start-up number; plus encode + decode spread over the steps.
      const stepSeconds = Object.fromEntries(base.degrees.map((k) => [String(k), (r.stepSecondsByDegree[`${k}:${e.resolution}`] ?? e.stepSeconds[String(k)]) + stage / steps]));
      return { resolution: e.resolution, stepSeconds, groupChangeSeconds: 0, provenance: { '1': 'measured live: median step per degree (start-up number where unused) + (encode + decode)/steps' } };
    }),
  });
}

/** Measured reasons for a prediction gap over 5 points. */
function gapNotes(profile: LatencyProfile, live: ReplayResult, run: Pick<RunReport, 'gapPoints' | 'gapServicePoints' | 'nearMisses' | 'cut' | 'requests'>, steps: number): string[] {
  if (Math.abs(run.gapPoints) <= 5) return [];
  const notes: string[] = [];
  const off: string[] = [];
  for (const [key, s] of Object.entries(live.stepSecondsByDegree)) {
    const [k, r] = key.split(':');
    const e = profile.entries.find((x) => x.resolution === Number(r));
    const p = e?.stepSeconds[k];
    if (p && Math.abs(s / p - 1) > 0.1) off.push(`${r}px degree ${k} ${(s * 1000).toFixed(0)} ms live vs ${(p * 1000).toFixed(0)} ms profiled`);
  }
  if (off.length) notes.push(`live steps differ from the start-up profile by >10%: ${off.join('; ')}`);
  const stage: string[] = [];
  for (const e of profile.entries) {
    const st = live.stageSeconds[e.resolution];
    const step = e.stepSeconds['1'];
    if (st && step && st / (steps * step) > 0.05) stage.push(`${e.resolution}px ${(100 * st / (steps * step)).toFixed(0)}%`);
  }
  if (stage.length) notes.push(`encode + decode (not in the profile) add to a request's ${steps} steps: ${stage.join(', ')}`);
  if (Math.abs(run.gapServicePoints) + 2 < Math.abs(run.gapPoints)) notes.push(`with the service profile the gap is ${run.gapServicePoints.toFixed(1)} points: most of it is profile error`);
  else notes.push(`the service profile does not close it (${run.gapServicePoints.toFixed(1)} points): the difference is in the dynamics (timer/decision latency, rounds ending late), not the step times`);
  const n = live.outcomes.length;
  if (run.nearMisses) notes.push(`${run.nearMisses} missed request(s) finished within 10% of their SLO after the deadline (one request of ${n} is ${(100 / Math.max(1, n)).toFixed(1)} points)`);
  if (run.cut) notes.push(`${run.cut} request(s) cut at the tail limit (counted missed)`);
  if (live.boundaryMisses) notes.push(`${live.boundaryMisses} assignment(s) ended < 50 ms after a round boundary: the simulator's end exactly on it, so its GPUs join that round; live they waited a whole round (the boundary waits up to 10% of a round for assignments due by it; these were later)`);
  const differ = run.requests.filter((x) => x.liveMet !== x.simMet);
  if (differ.length) {
    const show = (t: number | null): string => (t === null ? 'never' : `${t.toFixed(2)} s`);
    notes.push(`live and simulated differ on ${differ.length} request(s): ${differ.slice(0, 6).map((x) => `#${x.id} ${x.resolution}px deadline ${x.deadline.toFixed(2)} s, live ${show(x.liveFinish)}${x.liveMet ? ' met' : ' missed'}, simulated ${show(x.simFinish)}${x.simMet ? ' met' : ' missed'}`).join('; ')}`);
  }
  if (live.httpErrors.length) notes.push(`${live.httpErrors.length} HTTP error(s): ${live.httpErrors.slice(0, 2).join('; ')}`);
  return notes;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

/** The Markdown report: attainment per mix x policy, the simulator on the same trace, gaps, status latency, degrees. */
export function renderReport(r: ExperimentReport): string {
  const o = r.options;
  const L: string[] = [];
  L.push('# Serving experiment (issue 11): live through the HTTP server vs the simulator on the same trace', '');
  L.push(`Model ${o.model} on ${o.gpus} GPU(s), max degree ${o.maxDegree}; ${o.steps} steps per request; ${o.ratePerMin} requests/min for ${o.seconds} s per run; base SLO = ${o.sloFactor} x ${o.steps} x degree-1 step, SLO scale ${o.sloScale}; seed ${o.seed}. Start-up ${r.startupSeconds.toFixed(0)} s. Engines on ${o.engineThread === false ? 'the HTTP thread (--no-engine-thread)' : 'the engine thread'}.`, '');
  L.push('Start-up profile (seconds per step): ' + r.profile.entries.map((e) => `${e.resolution}px ${Object.entries(e.stepSeconds).map(([k, s]) => `d${k} ${(s * 1000).toFixed(1)} ms`).join(' / ')}`).join('; '), '');
  L.push('Every request went through `POST /v1/generations` (loopback, wait=false) at its trace time with deadline_at = the trace\'s arrival + SLO; met = image done by arrival + SLO on the simulator\'s clock. Status = `GET /v1/generations/:id` round trips sent while an assignment ran: per-request pollers every ' + `${o.pollMs ?? 100} ms in the server's process (their latency includes the client's own share of the event loop), and one poller at 20 Hz in a separate process (a client outside the server). Gap = simulated - live, in points (issue: within 5).`, '');
  L.push('| mix | policy | n | live | simulated (start-up profile) | gap | simulated (service profile) | gap | status ms p50 / p99 / max (n), pollers in process | status ms p50 / p99 / max (n), 20 Hz poller in its own process | event-loop p99 ms | steps by degree | cut | wall s |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|---:|');
  for (const m of r.mixes) {
    for (const x of m.runs) {
      const deg = Object.entries(x.stepsByDegree).map(([k, n]) => `d${k}: ${n}`).join(', ');
      L.push(`| ${m.mix} | ${x.policy} | ${m.requests} | ${pct(x.live)} | ${pct(x.simulatedStartupProfile)} | ${x.gapPoints.toFixed(1)}${Math.abs(x.gapPoints) > 5 ? ' (!)' : ''} | ${pct(x.simulatedServiceProfile)} | ${x.gapServicePoints.toFixed(1)} | ${ms(x.statusMs.p50)} / ${ms(x.statusMs.p99)} / ${ms(x.statusMs.max)} (${x.statusMs.n}) | ${ms(x.statusMsExternal.p50)} / ${ms(x.statusMsExternal.p99)} / ${ms(x.statusMsExternal.max)} (${x.statusMsExternal.n}) | ${ms(x.eventLoopDelayMs.p99)} | ${deg} | ${x.cut} | ${x.wallSeconds.toFixed(0)} |`);
    }
    for (const p of m.skipped) L.push(`| ${m.mix} | ${p} | ${m.requests} | skipped: over the time budget | | | | | | | | | | |`);
    for (const f of m.failed) L.push(`| ${m.mix} | ${f.policy} | ${m.requests} | failed: ${f.error.split('\n')[0].replace(/\|/g, '/')} | | | | | | | | | | |`);
  }
  const all = r.mixes.flatMap((m) => m.runs);
  if (all.length) {
    const worstOf = (xs: number[]): string => {
      const f = xs.filter(Number.isFinite);
      if (!f.length) return 'no status read while busy';
      const w = Math.max(...f);
      return `${ms(w)} ms (bound: 20 ms) — ${w < 20 ? 'met' : 'NOT met'}`;
    };
    L.push('', `Status p99 while GPUs were busy, worst run: pollers in the server's process ${worstOf(all.map((x) => x.statusMs.p99))}; the 20 Hz poller in its own process ${worstOf(all.map((x) => x.statusMsExternal.p99))}. Largest |server deadline - trace deadline|: ${ms(Math.max(...all.map((x) => x.deadlineSkewMsMax)))} ms. HTTP errors: ${all.reduce((a, x) => a + x.httpErrors.length, 0)}.`);
  }
  const gaps = r.mixes.flatMap((m) => m.runs.filter((x) => x.notes.length).map((x) => ({ m, x })));
  if (gaps.length) {
    L.push('', '## Gaps over 5 points', '');
    for (const { m, x } of gaps) L.push(`- ${m.mix} ${x.policy} (gap ${x.gapPoints.toFixed(1)}): ${x.notes.join('; ')}.`);
  }
  const blocked = r.mixes.flatMap((m) => m.runs.filter((x) => x.blocks.count).map((x) => ({ m, x })));
  if (blocked.length) {
    L.push('', '## Event-loop blocks over 50 ms (a status request arriving in one waits for it)', '');
    for (const { m, x } of blocked) {
      const b = x.blocks;
      L.push(`- ${m.mix} ${x.policy}: ${b.count} blocks, ${(b.totalMs / 1000).toFixed(2)} s in all, longest ${b.maxMs.toFixed(0)} ms; GC ${b.gc.count} pauses (${b.gc.major} major), ${b.gc.totalMs.toFixed(0)} ms in all, longest ${b.gc.maxMs.toFixed(0)} ms. Longest: ${b.longest.slice(0, 3).map((l) => `${l.ms.toFixed(0)} ms at ${l.at.toFixed(1)} s [${l.events.join(', ') || 'no driver event'}]`).join('; ')}. Engine calls' synchronous part (mean / max ms): ${Object.entries(x.engineSyncMs).map(([k, v]) => `${k} ${v.meanMs.toFixed(1)} / ${v.maxMs.toFixed(1)} (${v.n})`).join(', ') || '-'}`);
    }
  }
  L.push('', '## Per resolution (met / n, live) and base SLOs', '');
  for (const m of r.mixes) {
    L.push(`- ${m.mix}: base SLO ${Object.entries(m.baseSlo).map(([res, s]) => `${res}px ${s.toFixed(2)} s`).join(', ')}`);
    for (const x of m.runs) L.push(`  - ${x.policy}: ${Object.entries(x.perResolution).map(([res, v]) => `${res}px ${v.met}/${v.n}`).join(', ')}; live step ms ${Object.entries(x.liveStepSeconds).map(([k, s]) => `${k} ${(s * 1000).toFixed(0)}`).join(', ')}; encode+decode s ${Object.entries(x.stageSeconds).map(([res, s]) => `${res}px ${s.toFixed(3)}`).join(', ')}; decision ${ms(x.decisionMsMedian)} ms; POST p99 ${ms(x.submitMs.p99)} ms; assignments ending < 50 ms after a round boundary ${x.boundaryMisses}; boundaries that waited for due assignments ${x.boundaryHolds.count} (${x.boundaryHolds.seconds.toFixed(2)} s)`);
  }
  return `${L.join('\n')}\n`;
}

export async function runServeExperiment(o: ExperimentOptions): Promise<ExperimentReport> {
  const cfg = defaultConfig({ model: o.model, gpus: o.gpus, sharedAdapter: o.sharedAdapter, resolutions: o.resolutions, txtTokens: o.txtTokens, robustness: o.robustness, maxDegree: o.maxDegree, engineThread: o.engineThread ?? true });
  const t0 = performance.now();
  const pool = await openPool(cfg, { log: o.log });
  const { workers, measured } = pool;
  const startupSeconds = (performance.now() - t0) / 1000;
  o.log(`workers ready in ${startupSeconds.toFixed(1)} s`);
  const profile = measuredProfile(cfg, measured, workers[0].description);
  const { log: _log, ...options } = o;
  const report: ExperimentReport = { options, startupSeconds, profile, mixes: [] };
  const save = async (): Promise<void> => {
    await mkdir(o.out, { recursive: true });
    await writeFile(join(o.out, 'serve-experiment.json'), `${JSON.stringify(report, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v), 2)}\n`);
    await writeFile(join(o.out, 'serve-experiment.md'), renderReport(report));
  };
  const left = (): number => (o.budgetSeconds ?? Infinity) - process.uptime();
  const tailLimit = o.tailLimitSeconds ?? 20;
  try {
    // Warm-up, not recorded: one request per resolution at each degree, through the HTTP path, so the first
    // measured policy does not pay for first-use costs (allocator growth, lazily created pipelines, transport
    // buffers, Fastify's first requests).
    const maxDegree = Math.min(o.maxDegree, Math.max(...profile.degrees));
    for (const k of profile.degrees.filter((d) => d <= maxDegree)) {
      const warm = o.resolutions.map((r, i) => ({ id: 1_000_000 + 100 * k + i, resolution: r, steps: 2, arrival: 0, deadline: 1e6 }));
      await replayLive(pool, profile, `xdit:${k}`, warm, { maxDegree, extraPollHz: 0 });
    }
    o.log(`warm-up done (${left() === Infinity ? 'no time budget' : `${left().toFixed(0)} s of the budget left`})`);
    for (const mix of o.mixes) {
      const baseSlo: Record<number, number> = {};
      for (const e of profile.entries) baseSlo[e.resolution] = o.sloFactor * o.steps * e.stepSeconds['1'];
      const count = Math.max(1, Math.round((o.ratePerMin * o.seconds) / 60));
      const trace = generateWorkload({ count, ratePerMin: o.ratePerMin, mix, sloScale: o.sloScale, seed: o.seed, resolutions: o.resolutions, steps: o.steps, baseSlo });
      const mr: MixReport = { mix, requests: trace.length, baseSlo, runs: [], skipped: [], failed: [] };
      report.mixes.push(mr);
      const lastArrival = trace.reduce((m, r) => Math.max(m, r.arrival), 0);
      for (const policy of o.policies) {
        // A run needs its arrivals plus a few seconds of tail; its tail is cut so it ends inside the budget.
        const room = left() - lastArrival - 4;
        if (room < Math.min(5, tailLimit)) {
          mr.skipped.push(policy);
          o.log(`${mix} ${policy}: skipped (${left().toFixed(0)} s of the budget left, the arrivals alone take ${lastArrival.toFixed(0)} s)`);
          await save();
          continue;
        }
        let live: ReplayResult;
        try {
          live = await replayLive(pool, profile, policy, trace, { maxDegree, pollMs: o.pollMs, tailLimitSeconds: Math.min(tailLimit, room) });
        } catch (e) {
          const error = (e as Error).stack ?? String(e);
          mr.failed.push({ policy, error });
          o.log(`${mix} ${policy}: FAILED: ${error}`);
          await save();
          continue;
        }
        const simOut = simulateTrace(profile, o.gpus, policy, trace, maxDegree);
        const simA = simOut.length ? simOut.filter((x) => x.met).length / simOut.length : 1;
        const simById = new Map(simOut.map((x) => [x.id, x]));
        const fin = (t: number | undefined): number | null => (t !== undefined && Number.isFinite(t) ? Math.round(t * 1000) / 1000 : null);
        const requests = live.outcomes.map((x) => {
          const sx = simById.get(x.id);
          return { id: x.id, resolution: x.resolution, arrival: x.arrival, deadline: x.deadline, liveFinish: fin(x.finish), liveMet: x.met, simFinish: fin(sx?.finish), simMet: sx?.met ?? false, state: x.state };
        });
        const simB = replaySimulated(serviceProfile(profile, live, o.steps), o.gpus, policy, trace, maxDegree);
        const perResolution: Record<number, { n: number; met: number }> = {};
        let nearMisses = 0;
        for (const x of live.outcomes) {
          const p = (perResolution[x.resolution] ??= { n: 0, met: 0 });
          p.n++;
          if (x.met) p.met++;
          else if (Number.isFinite(x.finish) && x.finish - x.deadline <= 0.1 * (x.deadline - x.arrival)) nearMisses++;
        }
        const run: RunReport = {
          policy: live.policy, live: live.attainment, simulatedStartupProfile: simA, simulatedServiceProfile: simB,
          gapPoints: 100 * (simA - live.attainment), gapServicePoints: 100 * (simB - live.attainment),
          ...liveFields(live),
          liveStepSeconds: live.stepSecondsByDegree, httpErrors: live.httpErrors.slice(0, 20), perResolution, nearMisses, notes: [], requests,
        };
        run.notes = gapNotes(profile, live, run, o.steps);
        mr.runs.push(run);
        o.log(`${mix} ${live.policy}: live ${pct(live.attainment)}, simulated ${pct(simA)} (start-up profile, gap ${run.gapPoints.toFixed(1)}) / ${pct(simB)} (service profile); status p99 ${ms(live.statusMs.p99)} ms (n ${live.statusMs.n}); steps by degree ${JSON.stringify(live.stepsByDegree)}; cut ${live.cut}; ${live.wallSeconds.toFixed(0)} s`);
        await save();
      }
    }
  } finally {
    await pool.close();
  }
  await save();
  return report;
}
