// Initial noise (Philox4x32-10 + Box-Muller, host-side) and the request-state / runStep contract with a fake executor.
import { describe, expect, it } from 'vitest';
import { denoise, runStep, type DenoiseExecutor, type VelocityQuery } from '../../src/pipeline/denoise-step.js';
import { FLUX_DEV_SCHEDULER, SD3_SCHEDULER } from '../../src/pipeline/flow-match.js';
import { gaussianNoise, philox4x32 } from '../../src/pipeline/noise.js';
import { createRequestState, isDone, stepsLeft, type Conditioning } from '../../src/pipeline/request-state.js';

const hex = (w: number[]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');

describe('noise', () => {
  it('Philox4x32-10 matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe('d16cfe09 94fdcceb 5001e420 24126ea1');
  });

  it('is deterministic, prefix-stable, seed- and stream-dependent', () => {
    const a = gaussianNoise(42, 1001);
    expect(gaussianNoise(42, 1001)).toEqual(a);
    expect(gaussianNoise(42, 37)).toEqual(a.subarray(0, 37)); // element i does not depend on the count
    expect(gaussianNoise(43, 1001)).not.toEqual(a);
    expect(gaussianNoise(42, 1001, 1)).not.toEqual(a);
    // seeds above 2^32 use the key's high word
    expect(gaussianNoise(2 ** 32 + 42, 16)).not.toEqual(gaussianNoise(42, 16));
    expect(() => gaussianNoise(-1, 4)).toThrow(/seed/);
    expect(() => gaussianNoise(1.5, 4)).toThrow(/seed/);
  });

  it('is standard normal', () => {
    const n = 1 << 16;
    const x = gaussianNoise(7, n);
    let m = 0, v = 0, k4 = 0, tail = 0;
    for (const z of x) m += z;
    m /= n;
    for (const z of x) { v += (z - m) ** 2; k4 += (z - m) ** 4; if (Math.abs(z) > 1.959964) tail++; }
    v /= n;
    expect(Math.abs(m)).toBeLessThan(0.02);
    expect(Math.abs(v - 1)).toBeLessThan(0.02);
    expect(Math.abs(k4 / n / (v * v) - 3)).toBeLessThan(0.1);
    expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.005);
  });
});

const cond = (tokens: number, dim: number, pooled: number): Conditioning => ({ context: new Float32Array(tokens * dim), tokens, pooled: new Float32Array(pooled) });

/** A fake "transformer": v = x * a + b_cond, so the whole sampled trajectory has a float64 closed form per step. */
class FakeExecutor implements DenoiseExecutor {
  calls: VelocityQuery[] = [];
  constructor(private readonly bias: Map<Conditioning, number>) {}
  async velocity(q: VelocityQuery): Promise<Float32Array[]> {
    this.calls.push({ ...q, latents: Float32Array.from(q.latents) });
    return q.conds.map((c) => q.latents.map((x) => 0.5 * x + this.bias.get(c)!));
  }
}

describe('RequestState + runStep', () => {
  const shape = { channels: 4, height: 6, width: 10 };

  it('runs every step once, with the schedule, guidance and CFG applied', async () => {
    const c = cond(3, 8, 5), u = cond(3, 8, 5);
    const st = createRequestState({ id: 'r', family: 'sd3', latentShape: shape, cond: c, cfg: { uncond: u, scale: 4 }, seed: 5, steps: 6, scheduler: SD3_SCHEDULER });
    expect(st.latents).toEqual(gaussianNoise(5, 240));
    const ex = new FakeExecutor(new Map([[c, 1], [u, -1]]));
    // float64 reference of the same trajectory
    const ref = Array.from(st.latents, Number);
    for (let k = 0; k < 6; k++) {
      const dt = st.sigmas[k + 1] - st.sigmas[k];
      for (let i = 0; i < ref.length; i++) {
        const vc = 0.5 * ref[i] + 1, vu = 0.5 * ref[i] - 1;
        ref[i] += dt * (vu + 4 * (vc - vu));
      }
    }
    const seen: number[] = [];
    await denoise(st, ex, (r) => seen.push(r.step));
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(isDone(st)).toBe(true);
    expect(stepsLeft(st)).toBe(0);
    expect(ex.calls.map((q) => q.sigma)).toEqual(st.sigmas.slice(0, 6));
    expect(ex.calls.every((q) => q.conds.length === 2 && q.conds[0] === c && q.conds[1] === u)).toBe(true);
    for (let i = 0; i < ref.length; i++) expect(st.latents[i]).toBeCloseTo(ref[i], 4);
    await expect(runStep(st, ex)).rejects.toThrow(/all 6 steps/);
  });

  it('FLUX: distilled guidance is passed, one forward per step; img2img starts late from the noised image', async () => {
    const c = cond(2, 8, 5);
    const init = new Float32Array(240).fill(0.25);
    const st = createRequestState({
      id: 'r', family: 'flux', latentShape: shape, cond: c, distilledGuidance: 3.5, seed: 9, steps: 10, scheduler: FLUX_DEV_SCHEDULER,
      init: { latents: init, strength: 0.6 },
    });
    expect(st.startStep).toBe(4);
    expect(stepsLeft(st)).toBe(6);
    const s = st.sigmas[4];
    const noise = gaussianNoise(9, 240);
    expect(st.latents[7]).toBeCloseTo((1 - s) * 0.25 + s * noise[7], 6);
    const ex = new FakeExecutor(new Map([[c, 0]]));
    const r = await runStep(st, ex);
    expect(r.step).toBe(4);
    expect(ex.calls[0].distilledGuidance).toBe(3.5);
    expect(ex.calls[0].conds.length).toBe(1);
  });

  it('rejects noise of the wrong size', () => {
    expect(() => createRequestState({ id: 'r', family: 'flux', latentShape: shape, cond: cond(1, 1, 1), seed: 0, steps: 2, scheduler: FLUX_DEV_SCHEDULER, noise: new Float32Array(5) }))
      .toThrow(/needs 240/);
  });
});
