import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProfile, provenanceCounts, profileToJson } from '../../src/scheduler/profile.js';
import { FLUX1_DEV, fitOverhead, fluxAltFitProfile, modelStep, NVLINK_H100, sd3A40Profile, XDIT_FLUX_H100 } from '../../src/sim/profile-fit.js';

const committed = (f: string) => parseProfile(JSON.parse(readFileSync(new URL(`../../profiles/${f}`, import.meta.url), 'utf8')), f);

describe('derived profiles', () => {
  it('the alternative fit reproduces the three published points within 1%', () => {
    const fit = fitOverhead(FLUX1_DEV, NVLINK_H100, XDIT_FLUX_H100);
    expect(fit.maxRelError).toBeLessThan(0.01);
    for (const p of XDIT_FLUX_H100) expect(modelStep(FLUX1_DEV, NVLINK_H100, { kind: 'overhead', ...fit }, p.resolution, p.degree) / p.stepSeconds).toBeCloseTo(1, 1);
    expect(fit.c0).toBeGreaterThan(0);
  });
  it('mark every number: published ones as published, all others derived, group changes assumed', () => {
    const alt = fluxAltFitProfile();
    expect(provenanceCounts(alt)).toEqual({ measured: 0, published: 3, derived: 21, assumed: 0, unmarked: 0 });
    for (const e of alt.entries) expect(e.provenance?.groupChange).toMatch(/^assumed:/);
    expect(provenanceCounts(sd3A40Profile())).toEqual({ measured: 0, published: 0, derived: 18, assumed: 0, unmarked: 0 });
    expect(provenanceCounts(committed('flux1-dev-h100.json'))).toMatchObject({ published: 3, derived: 21, unmarked: 0 });
  });
  it('the committed derived profiles are what the code produces', () => {
    expect(profileToJson(committed('flux1-dev-h100-altfit.json'))).toBe(profileToJson(fluxAltFitProfile()));
    expect(profileToJson(committed('sd3-medium-a40x4-derived.json'))).toBe(profileToJson(sd3A40Profile()));
  });
  it('step time falls with degree and rises with resolution', () => {
    for (const p of [fluxAltFitProfile(), sd3A40Profile()]) {
      for (const e of p.entries) for (let i = 1; i < p.degrees.length; i++) expect(e.stepSeconds[String(p.degrees[i])]).toBeLessThan(e.stepSeconds[String(p.degrees[i - 1])]);
      for (let i = 1; i < p.entries.length; i++) expect(p.entries[i].stepSeconds['1']).toBeGreaterThan(p.entries[i - 1].stepSeconds['1']);
    }
  });
});
