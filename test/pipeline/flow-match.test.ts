// The sampler against goldens made by diffusers (bench/reference/make_pipeline_goldens.py): sigma schedules as
// FluxPipeline / StableDiffusion3Pipeline compute them, scheduler.step, img2img start steps.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  applyCfg, eulerStep, flowMatchSchedule, img2imgStartStep, noiseTo, parseSchedulerConfig, resolutionShift,
  FLUX_DEV_SCHEDULER, SD3_SCHEDULER, type SigmaSpacing,
} from '../../src/pipeline/flow-match.js';

interface Gold {
  configs: Record<string, Record<string, unknown>>;
  cases: { config: string; spacing: SigmaSpacing; steps: number; image_seq_len: number; timesteps: number[]; sigmas: number[] }[];
  euler: { sigma: number; sigma_next: number; sample: number[]; velocity: number[]; prev: number[] }[];
  img2img: { steps: number; strength: number; start: number; runs: number }[];
}
const gold = JSON.parse(readFileSync(new URL('../fixtures/tiny-pipelines/scheduler-golden.json', import.meta.url), 'utf8')) as Gold;

// diffusers computes in float32: agreement to a few float32 ulps.
const close = (got: readonly number[], want: readonly number[], tol: number) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i])));
};

describe('flow-matching schedule vs diffusers', () => {
  it(`matches ${gold.cases.length} (config, steps, size) cases`, () => {
    expect(gold.cases.length).toBeGreaterThan(60);
    for (const c of gold.cases) {
      const cfg = parseSchedulerConfig(gold.configs[c.config], c.spacing === 'flux' ? FLUX_DEV_SCHEDULER : SD3_SCHEDULER);
      const s = flowMatchSchedule(cfg, c.steps, c.image_seq_len, c.spacing);
      close(s.sigmas, c.sigmas, 2e-6);
      close(s.timesteps, c.timesteps, 2e-6);
    }
  });

  it('dynamic shift depends on size, the static ones do not', () => {
    const a = flowMatchSchedule(FLUX_DEV_SCHEDULER, 28, 256, 'flux');
    const b = flowMatchSchedule(FLUX_DEV_SCHEDULER, 28, 4096, 'flux');
    expect(a.mu).toBeCloseTo(0.5, 12);
    expect(b.mu).toBeCloseTo(1.15, 12);
    expect(resolutionShift(1024, FLUX_DEV_SCHEDULER)).toBeCloseTo(0.5 + (0.65 * 768) / 3840, 12);
    expect(b.sigmas[10]).toBeGreaterThan(a.sigmas[10]);
    expect(a.sigmas[0]).toBe(1);
    expect(a.sigmas.at(-1)).toBe(0);
  });

  it('refuses configs it would silently mis-read', () => {
    expect(() => parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler' }, SD3_SCHEDULER)).toThrow(/not supported/);
    expect(() => parseSchedulerConfig({ use_karras_sigmas: true }, SD3_SCHEDULER)).toThrow(/use_karras_sigmas/);
    expect(() => parseSchedulerConfig({ shift: 'x' }, SD3_SCHEDULER)).toThrow(/shift must be a number/);
    expect(() => flowMatchSchedule(SD3_SCHEDULER, 0, 1024, 'sd3')).toThrow(/steps/);
  });
});

describe('Euler update, CFG, noising', () => {
  it('scheduler.step', () => {
    for (const e of gold.euler) {
      const x = Float32Array.from(e.sample);
      eulerStep(x, e.velocity, e.sigma, e.sigma_next);
      close(Array.from(x), e.prev, 1e-6);
    }
  });

  it('CFG and the forward process', () => {
    const c = Float32Array.from([1, 2, 3]);
    applyCfg(c, [0, 1, 5], 7);
    expect(Array.from(c)).toEqual([7, 8, -9]);
    expect(Array.from(noiseTo([1, 1], [3, -1], 0.25))).toEqual([1.5, 0.5]);
    expect(() => eulerStep(new Float32Array(2), [1], 1, 0)).toThrow(/velocity/);
  });

  it('img2img start step as FluxImg2ImgPipeline.get_timesteps', () => {
    for (const c of gold.img2img) {
      if (c.runs === 0) {
        expect(() => img2imgStartStep(c.steps, c.strength)).toThrow(/no step/);
        continue;
      }
      expect(img2imgStartStep(c.steps, c.strength)).toBe(c.start);
    }
    expect(() => img2imgStartStep(10, 0)).toThrow(/strength/);
    expect(() => img2imgStartStep(10, 1.5)).toThrow(/strength/);
  });
});
