// Serving workers sleep through most of a step's expected GPU time before asking Dawn for the result
// (TransformerExecutorOptions.idleWaitFraction; docs/serving.md, "Event-loop blocks"): while a Dawn promise is
// pending, dawn.node spins ProcessEvents on setImmediate and allocates, which drove the GC pauses of the H200
// runs. Checked here: the velocities are bit-identical to reading back at once, the sleep comes before the
// readback (never after it), is skipped on a plan's first call (no estimate yet) and is at most the fraction of
// the previous call's time; the environment override is parsed with clear errors.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tinyFluxConfig } from '../../src/models/flux/index.js';
import { randomWeightStore } from '../../src/models/random-weights.js';
import type { VelocityQuery } from '../../src/pipeline/denoise-step.js';
import { TransformerExecutor } from '../../src/pipeline/transformer-executor.js';
import { serveIdleWaitFraction } from '../../src/serve/engine.js';
import { freshSeed, rng, testContext } from '../helpers/gpu.js';

function randArray(rand: () => number, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

describe('serveIdleWaitFraction', () => {
  it('defaults to 0.85, takes 0 (off) and rejects values outside [0, 1) naming the variable', () => {
    expect(serveIdleWaitFraction({})).toBe(0.85);
    expect(serveIdleWaitFraction({ DIT_SERVE_IDLE_WAIT: '0' })).toBe(0);
    expect(serveIdleWaitFraction({ DIT_SERVE_IDLE_WAIT: '0.5' })).toBe(0.5);
    for (const bad of ['1', '-0.1', 'abc', '2']) expect(() => serveIdleWaitFraction({ DIT_SERVE_IDLE_WAIT: bad })).toThrow(/DIT_SERVE_IDLE_WAIT/);
  });
});

describe('TransformerExecutor idleWaitFraction', () => {
  afterEach(() => vi.restoreAllMocks());

  it('rejects a fraction outside [0, 1)', async () => {
    const ctx = await testContext();
    const { store } = await randomWeightStore(ctx, tinyFluxConfig(), 3);
    expect(() => new TransformerExecutor(ctx, store, tinyFluxConfig(), { idleWaitFraction: 1 })).toThrow(/idleWaitFraction/);
    store.destroy();
  });

  it('sleeps before the readback (never after it, not on the first call), bounded by the fraction; same velocities', async () => {
    const seed = freshSeed();
    const cfg = tinyFluxConfig();
    const ctx = await testContext();
    const { store } = await randomWeightStore(ctx, cfg, (seed % 1000) + 1);
    const rand = rng(seed);
    // Odd latent grid (6 x 10 latents -> 3 x 5 tokens), 5 text tokens.
    const shape = { channels: cfg.inChannels / 4, height: 6, width: 10 };
    const cond = { context: randArray(rand, 5 * cfg.contextInDim, 0.5), tokens: 5, pooled: randArray(rand, cfg.pooledDim, 0.5) };
    const queries: VelocityQuery[] = [0.9, 0.6, 0.3, 0.1].map((sigma) => ({
      family: 'flux', latentShape: shape, latents: randArray(rand, shape.channels * shape.height * shape.width, 1), sigma, distilledGuidance: 3.5, conds: [cond],
    }));
    const frac = 0.6;
    const eager = new TransformerExecutor(ctx, store, cfg);
    const idle = new TransformerExecutor(ctx, store, cfg, { idleWaitFraction: frac });
    try {
      const want: Float32Array[] = [];
      for (const q of queries) want.push((await eager.velocity(q))[0]);

      // Order of events inside each call: the executor's timers (scheduled / fired) and the readback.
      const log: { what: 'sleep' | 'woke' | 'readback'; ms?: number }[][] = [];
      const realSetTimeout = globalThis.setTimeout;
      vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
        log.at(-1)?.push({ what: 'sleep', ms });
        return realSetTimeout(() => {
          log.at(-1)?.push({ what: 'woke' });
          fn();
        }, ms);
      }) as typeof setTimeout);
      const realReadback = ctx.readback.bind(ctx);
      vi.spyOn(ctx, 'readback').mockImplementation((...a: Parameters<typeof ctx.readback>) => {
        log.at(-1)?.push({ what: 'readback' });
        return realReadback(...a);
      });
      const wall: number[] = [];
      for (let i = 0; i < queries.length; i++) {
        log.push([]);
        const t0 = performance.now();
        const got = (await idle.velocity(queries[i]))[0];
        wall.push(performance.now() - t0);
        expect(got).toEqual(want[i]);
      }
      // First call: no estimate, no sleep.
      expect(log[0].map((e) => e.what)).toEqual(['readback']);
      let slept = 0;
      for (let i = 1; i < log.length; i++) {
        const whats = log[i].map((e) => e.what);
        expect(whats.at(-1)).toBe('readback');
        expect(whats.filter((w) => w === 'readback')).toHaveLength(1);
        if (whats[0] === 'sleep') {
          slept++;
          expect(whats).toEqual(['sleep', 'woke', 'readback']);
          // At most the fraction of the previous call's submit-to-result time (<= its wall time).
          expect(log[i][0].ms!).toBeGreaterThan(0);
          expect(log[i][0].ms!).toBeLessThanOrEqual(frac * wall[i - 1] + 1e-6);
        } else {
          expect(whats).toEqual(['readback']);
        }
      }
      // The tiny step takes several ms on any adapter, so at least one later call slept.
      expect(slept).toBeGreaterThan(0);
    } finally {
      eager.destroy();
      idle.destroy();
      store.destroy();
    }
  });

  it('after a sleep that found the result already there, the next call reads back at once (a slow first step does not stretch the sleeps)', async () => {
    const seed = freshSeed();
    const cfg = tinyFluxConfig();
    const ctx = await testContext();
    const { store } = await randomWeightStore(ctx, cfg, (seed % 1000) + 1);
    const rand = rng(seed);
    const shape = { channels: cfg.inChannels / 4, height: 4, width: 6 };
    const cond = { context: randArray(rand, 3 * cfg.contextInDim, 0.5), tokens: 3, pooled: randArray(rand, cfg.pooledDim, 0.5) };
    const q = (sigma: number): VelocityQuery => ({
      family: 'flux', latentShape: shape, latents: randArray(rand, shape.channels * shape.height * shape.width, 1), sigma, distilledGuidance: 3.5, conds: [cond],
    });
    const idle = new TransformerExecutor(ctx, store, cfg, { idleWaitFraction: 0.5 });
    try {
      const log: string[][] = [];
      const realSetTimeout = globalThis.setTimeout;
      vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
        log.at(-1)?.push('sleep');
        return realSetTimeout(fn, ms);
      }) as typeof setTimeout);
      const realReadback = ctx.readback.bind(ctx);
      let calls = 0;
      // The first call's result comes 3 s late (a slow first step): its time is a gross overestimate. The delay is
      // long so that the "already there" threshold (5% of the estimate, ~150 ms) stays far above a readback's time on
      // a loaded 2-core CI machine (a 400 ms delay, i.e. a 20 ms threshold, failed there once).
      vi.spyOn(ctx, 'readback').mockImplementation(async (...a: Parameters<typeof ctx.readback>) => {
        log.at(-1)?.push('readback');
        const r = await realReadback(...a);
        if (calls++ === 0) await new Promise((res) => realSetTimeout(res, 3000));
        return r;
      });
      for (const sigma of [0.9, 0.7, 0.5, 0.3]) {
        log.push([]);
        await idle.velocity(q(sigma));
      }
      expect(log[0]).toEqual(['readback']);
      // Second call sleeps ~1.5 s on the bad estimate; the tiny step is long done by then, so the result is
      // there at once and the third call measures without sleeping.
      expect(log[1]).toEqual(['sleep', 'readback']);
      expect(log[2]).toEqual(['readback']);
    } finally {
      idle.destroy();
      store.destroy();
    }
  });
});
