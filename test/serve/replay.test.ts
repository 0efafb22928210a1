// The serving experiment's machinery on lavapipe: a short Poisson trace replayed live through the HTTP server
// (POST /v1/generations at trace times, status polled while it runs) on two workers (transformer-only tiny
// FLUX), the simulator on the same trace, the tail limit, and the report; the GPU script runs the same code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/serve/config.js';
import { renderReport, type ExperimentReport, type RunReport } from '../../src/serve/experiment.js';
import { replayLive, replaySimulated } from '../../src/serve/replay.js';
import { measuredProfile, type WorkerPool } from '../../src/serve/pool.js';
import { openPool } from '../../src/serve/server.js';
import type { LatencyProfile } from '../../src/scheduler/profile.js';
import { generateWorkload } from '../../src/sim/workloads.js';

describe('live replay through HTTP vs simulator', () => {
  let pool: WorkerPool;
  let profile: LatencyProfile;
  beforeAll(async () => {
    const cfg = defaultConfig({ model: 'test/fixtures/tiny-models/flux-tiny/flux1-tiny.safetensors', gpus: 2, sharedAdapter: true, resolutions: [32, 64], txtTokens: 16 });
    pool = await openPool(cfg);
    profile = measuredProfile(cfg, pool.measured, 'lavapipe');
  }, 120_000);
  afterAll(async () => {
    await pool?.close();
  });

  it('replays a trace through the server on real workers and predicts it in the simulator', async () => {
    const baseSlo = Object.fromEntries(profile.entries.map((e) => [e.resolution, 20 * 3 * e.stepSeconds['1']]));
    const trace = generateWorkload({ count: 5, ratePerMin: 60, mix: 'skewed', seed: 3, resolutions: [32, 64], steps: 3, baseSlo });
    const live = await replayLive(pool, profile, 'tetriserve', trace);
    expect(live.httpErrors).toEqual([]);
    expect(live.outcomes).toHaveLength(5);
    for (const o of live.outcomes) {
      expect(o.httpStatus).toBe(202);
      expect(o.state).toBe('done');
      expect(o.finish).toBeGreaterThan(o.arrival);
      expect(o.met).toBe(o.finish <= o.deadline);
    }
    expect(Object.values(live.stepsByDegree).reduce((a, b) => a + b, 0)).toBe(15);
    // Status was read over HTTP while assignments ran (per-request pollers, and the 20 Hz one in its own process).
    expect(live.statusMs.n).toBeGreaterThan(5);
    expect(live.statusMsExternal.n).toBeGreaterThan(5);
    expect(live.statusMs.p99).toBeGreaterThan(0);
    expect(live.submitMs.n).toBe(5);
    expect(live.blocks.gc.count).toBeGreaterThanOrEqual(0);
    expect(live.engineSyncMs.step.n).toBe(15);
    expect(live.blocks.count).toBe(live.blocks.longest.length > 0 ? live.blocks.count : 0);
    // The server's deadlines are the trace's (deadline_at, millisecond resolution), so both agree on every request.
    expect(live.deadlineSkewMsMax).toBeLessThanOrEqual(1.001);
    expect(live.serverMet).toBe(live.outcomes.filter((o) => o.met).length);
    const sim = replaySimulated(profile, 2, 'tetriserve', trace);
    console.log(`live ${live.attainment}, simulated ${sim} (generous SLOs: both should be 1); status p50/p99 ${live.statusMs.p50.toFixed(1)}/${live.statusMs.p99.toFixed(1)} ms, deadline skew ${live.deadlineSkewMsMax.toFixed(1)} ms`);
    expect(sim).toBe(1);
    expect(live.attainment).toBeGreaterThanOrEqual(0.6);
  }, 120_000);

  it('past the tail limit, unfinished requests are cancelled through the API and counted missed', async () => {
    const trace = [0, 1].map((id) => ({ id, resolution: 64, steps: 40, arrival: 0, deadline: 1e4 }));
    const live = await replayLive(pool, profile, 'xdit:1', trace, { tailLimitSeconds: 0.3, extraPollHz: 0 });
    expect(live.cut).toBe(2);
    expect(live.httpErrors).toEqual([]);
    for (const o of live.outcomes) {
      expect(o.state).toBe('cancelled');
      expect(o.met).toBe(false);
      expect(o.finish).toBe(Infinity);
    }
    expect(live.attainment).toBe(0);
  }, 60_000);

  it('the report has attainment, the simulated prediction, the gap, status p99 and steps by degree', () => {
    const run = (policy: string, live: number, sim: number): RunReport => ({
      policy, live, simulatedStartupProfile: sim, simulatedServiceProfile: live, gapPoints: 100 * (sim - live), gapServicePoints: 0,
      wallSeconds: 30, decisionMsMedian: 0.1, liveStepSeconds: { '1:256': 0.05 }, stepsByDegree: { 1: 80, 2: 40 },
      statusMs: { n: 300, p50: 1.2, p99: 7.5, max: 12 }, statusMsAll: { n: 320, p50: 1.1, p99: 7, max: 12 }, statusMsExternal: { n: 200, p50: 0.8, p99: 3.5, max: 30 }, submitMs: { n: 15, p50: 2, p99: 4, max: 4 },
      eventLoopDelayMs: { p50: 1, p99: 3, max: 9 }, blocks: { count: 2, totalMs: 180, maxMs: 120, longest: [{ at: 3.5, ms: 120, events: ['step end 1024px d1'] }], gc: { count: 10, totalMs: 30, maxMs: 8, major: 1 } }, engineSyncMs: { step: { n: 120, meanMs: 2.5, maxMs: 40 } }, deadlineSkewMsMax: 1.5, serverMet: 14, cut: 0, boundaryMisses: 0, boundaryHolds: { count: 0, seconds: 0 }, httpErrors: [], stageSeconds: { 256: 0.01 },
      gpuBusySeconds: [20, 21], perResolution: { 256: { n: 15, met: 14 } }, nearMisses: 1, notes: sim - live > 0.05 ? ['a measured reason'] : [], requests: [],
    });
    const report: ExperimentReport = {
      options: { model: 'random:flux1-dev', gpus: 2, sharedAdapter: false, resolutions: [256], steps: 8, seconds: 25, ratePerMin: 36, sloFactor: 1.5, sloScale: 1.2, mixes: ['uniform'], policies: ['tetriserve', 'rssp', 'xdit:1'], seed: 1, txtTokens: 512, robustness: false, maxDegree: 2, out: '/tmp' },
      startupSeconds: 90,
      profile: { ...profile, entries: profile.entries.slice(0, 1) },
      mixes: [{ mix: 'uniform', requests: 15, baseSlo: { 256: 0.6 }, runs: [run('TetriServe', 14 / 15, 1), run('RSSP', 0.8, 0.8)], skipped: ['xdit:1'], failed: [{ policy: 'xdit:2', error: 'Error: boom | x\n  at here' }] }],
    };
    const md = renderReport(report);
    expect(md).toContain('| uniform | TetriServe | 15 | 93.3% | 100.0% | 6.7 (!) |');
    expect(md).toContain('| uniform | RSSP | 15 | 80.0% | 80.0% | 0.0 |');
    expect(md).toContain('| 1.2 / 7.5 / 12.0 (300) | 0.8 / 3.5 / 30.0 (200) |');
    expect(md).toContain('d1: 80, d2: 40');
    expect(md).toContain('xdit:1 | 15 | skipped');
    expect(md).toContain('| uniform | xdit:2 | 15 | failed: Error: boom / x |');
    expect(md).toMatch(/worst run: pollers in the server's process 7\.5 ms \(bound: 20 ms\) — met; the 20 Hz poller in its own process 3\.5 ms/);
    expect(md).toContain('uniform TetriServe (gap 6.7): a measured reason');
    expect(md).toContain('longest 120 ms; GC 10 pauses (1 major)');
    expect(md).toContain('120 ms at 3.5 s [step end 1024px d1]');
    expect(md).toContain('synchronous part (mean / max ms): step 2.5 / 40.0 (120)');
  });
});
