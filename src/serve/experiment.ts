// The serving experiment of issue 11 on a GPU machine: the paper's workload (Poisson arrivals, Uniform and
// Skewed resolution mixes, per-resolution SLOs) scaled to this cluster, replayed live once per policy with the
// same arrivals, and the simulator run on the same trace with the measured profile. Writes one JSON report.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeProfile, type LatencyProfile } from '../scheduler/profile.js';
import { generateWorkload, type Mix } from '../sim/workloads.js';
import { defaultConfig } from './config.js';
import { replayLive, replaySimulated, type ReplayResult } from './replay.js';
import { measuredProfile, openWorkers } from './server.js';

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
  maxDegree: number;
  out: string;
  log: (s: string) => void;
}

export interface MixReport {
  mix: Mix;
  requests: number;
  baseSlo: Record<number, number>;
  runs: {
    policy: string;
    live: number;
    simulatedStartupProfile: number;
    simulatedServiceProfile: number;
    gapPoints: number;
    wallSeconds: number;
    decisionMsMedian: number;
    liveStepSeconds: Record<string, number>;
    stepsByDegree: Record<number, number>;
    eventLoopDelayMs: { p50: number; p99: number; max: number };
    stageSeconds: Record<number, number>;
    gpuBusySeconds: number[];
    perResolution: Record<number, { n: number; met: number }>;
  }[];
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

export async function runServeExperiment(o: ExperimentOptions): Promise<{ profile: LatencyProfile; mixes: MixReport[] }> {
  const cfg = defaultConfig({ model: o.model, gpus: o.gpus, sharedAdapter: o.sharedAdapter, resolutions: o.resolutions, txtTokens: o.txtTokens, robustness: o.robustness, maxDegree: o.maxDegree });
  const t0 = performance.now();
  const { workers, measured, groups } = await openWorkers(cfg, { log: o.log });
  o.log(`workers ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const profile = measuredProfile(cfg, measured, workers[0].description);
  const mixes: MixReport[] = [];
  try {
    // Warm-up, not recorded: one request per resolution at each degree, so the first measured policy does not pay
    // for first-use costs (allocator growth, lazily created pipelines, transport buffers).
    const maxDegree = Math.min(o.maxDegree, Math.max(...profile.degrees));
    for (const k of profile.degrees.filter((d) => d <= maxDegree)) {
      const warm = o.resolutions.map((r, i) => ({ id: 1_000_000 + 100 * k + i, resolution: r, steps: 2, arrival: 0, deadline: 1e6 }));
      await replayLive(workers, profile, `xdit:${k}`, warm, { maxDegree, groups: groups ?? undefined });
    }
    o.log('warm-up done');
    for (const mix of o.mixes) {
      const baseSlo: Record<number, number> = {};
      for (const e of profile.entries) baseSlo[e.resolution] = o.sloFactor * o.steps * e.stepSeconds['1'];
      const count = Math.max(1, Math.round((o.ratePerMin * o.seconds) / 60));
      const trace = generateWorkload({ count, ratePerMin: o.ratePerMin, mix, sloScale: o.sloScale, seed: o.seed, resolutions: o.resolutions, steps: o.steps, baseSlo });
      const report: MixReport = { mix, requests: trace.length, baseSlo, runs: [] };
      for (const policy of o.policies) {
        const live = await replayLive(workers, profile, policy, trace, { maxDegree, groups: groups ?? undefined });
        const simA = replaySimulated(profile, o.gpus, policy, trace, maxDegree);
        const simB = replaySimulated(serviceProfile(profile, live, o.steps), o.gpus, policy, trace, maxDegree);
        const perResolution: Record<number, { n: number; met: number }> = {};
        for (const x of live.outcomes) {
          const p = (perResolution[x.resolution] ??= { n: 0, met: 0 });
          p.n++;
          if (x.met) p.met++;
        }
        report.runs.push({
          policy: live.policy, live: live.attainment, simulatedStartupProfile: simA, simulatedServiceProfile: simB,
          gapPoints: 100 * (simB - live.attainment), wallSeconds: live.wallSeconds, decisionMsMedian: live.decisionMsMedian,
          liveStepSeconds: live.stepSecondsByDegree, stepsByDegree: live.stepsByDegree, eventLoopDelayMs: live.eventLoopDelayMs, stageSeconds: live.stageSeconds, gpuBusySeconds: live.gpuBusySeconds, perResolution,
        });
        o.log(`${mix} ${live.policy}: live SLO attainment ${(100 * live.attainment).toFixed(1)}%, simulated ${(100 * simA).toFixed(1)}% (start-up profile) / ${(100 * simB).toFixed(1)}% (service profile), ${live.wallSeconds.toFixed(0)} s`);
        await mkdir(o.out, { recursive: true });
        await writeFile(join(o.out, 'serve-experiment.json'), `${JSON.stringify({ options: { ...o, log: undefined }, profile, mixes: [...mixes, report] }, null, 2)}\n`);
      }
      mixes.push(report);
    }
  } finally {
    groups?.destroy();
    await Promise.all(workers.map((w) => w.close()));
  }
  return { profile, mixes };
}
