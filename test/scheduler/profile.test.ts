import { describe, expect, it } from 'vitest';
import { CostModel } from '../../src/scheduler/cost-model.js';
import { interpolateStep, makeProfile, parseProfile, PROFILE_FORMAT, profileToJson } from '../../src/scheduler/profile.js';
import { shippedProfile } from './helpers.js';

describe('latency profile', () => {
  it('ships the published xDiT 1024px H100 figures (torch.compile, 28 steps) as per-step latencies', () => {
    const p = shippedProfile();
    const e = p.entries.find((x) => x.resolution === 1024)!;
    expect(e.stepSeconds['1'] * 28).toBeCloseTo(4.3, 3);
    expect(e.stepSeconds['2'] * 28).toBeCloseTo(2.6, 3);
    expect(e.stepSeconds['4'] * 28).toBeCloseTo(1.63, 3);
    // Every number carries its provenance, and only those three say "published".
    let published = 0;
    for (const en of p.entries) {
      for (const d of p.degrees) {
        const why = en.provenance?.[String(d)] ?? '';
        expect(why).toMatch(/^(published|derived)/);
        if (why.startsWith('published')) published++;
      }
      expect(en.provenance?.groupChange).toMatch(/^assumed/);
    }
    expect(published).toBe(3);
  });

  it('interpolates between profiled resolutions monotonically and exactly at profiled points', () => {
    const p = shippedProfile();
    for (const d of p.degrees) {
      expect(interpolateStep(p, 1024, d)).toBe(p.entries.find((x) => x.resolution === 1024)!.stepSeconds[String(d)]);
      let prev = 0;
      for (let r = 128; r <= 2560; r += 64) {
        const t = interpolateStep(p, r, d);
        expect(t).toBeGreaterThan(prev);
        prev = t;
      }
    }
    const m = new CostModel(p, 8);
    const s = m.slot(720);
    expect(m.step(s, 0)).toBeGreaterThan(m.step(m.slot(512), 0));
    expect(m.step(s, 0)).toBeLessThan(m.step(m.slot(768), 0));
  });

  it('rejects malformed profiles and resolutions with errors that name the problem', () => {
    const ok = { format: PROFILE_FORMAT, model: 'm', device: 'd', degrees: [1, 2], entries: [{ resolution: 256, stepSeconds: { 1: 0.1, 2: 0.06 }, groupChangeSeconds: 0 }] };
    expect(() => parseProfile(ok)).not.toThrow();
    expect(() => parseProfile({ ...ok, format: 'x' })).toThrow(/"format" must be/);
    expect(() => parseProfile({ ...ok, degrees: [2, 1] })).toThrow(/strictly ascending/);
    expect(() => parseProfile({ ...ok, entries: [{ resolution: 250, stepSeconds: { 1: 0.1, 2: 0.1 }, groupChangeSeconds: 0 }] })).toThrow(/multiple of 16/);
    expect(() => parseProfile({ ...ok, entries: [{ resolution: 256, stepSeconds: { 1: 0.1 }, groupChangeSeconds: 0 }] })).toThrow(/stepSeconds\["2"\]/);
    expect(() => parseProfile({ ...ok, entries: [{ resolution: 256, stepSeconds: { 1: 0.1, 2: 0.1 }, groupChangeSeconds: -1 }] })).toThrow(/groupChangeSeconds/);
    expect(() => interpolateStep(parseProfile(ok), 1000, 1)).toThrow(/multiple of 16/);
    expect(() => interpolateStep(parseProfile(ok), 256, 4)).toThrow(/degree 4 is not in the latency profile/);
    expect(() => new CostModel(parseProfile({ ...ok, degrees: [2], entries: [{ resolution: 256, stepSeconds: { 2: 0.1 }, groupChangeSeconds: 0 }] }), 1)).toThrow(/no profiled degree fits 1 GPU/);
  });
});

describe('makeProfile / profileToJson (the format dit bench model writes)', () => {
  it('sorts, validates and round-trips', () => {
    const p = makeProfile({
      model: 'm',
      device: 'd',
      degrees: [1, 2],
      entries: [
        { resolution: 512, stepSeconds: { 1: 0.2, 2: 0.12 }, groupChangeSeconds: 0.01, provenance: { 1: 'measured: x', 2: 'measured: y' } },
        { resolution: 256, stepSeconds: { 1: 0.1, 2: 0.07 }, groupChangeSeconds: 0.01 },
      ],
    });
    expect(p.entries.map((e) => e.resolution)).toEqual([256, 512]);
    expect(parseProfile(JSON.parse(profileToJson(p)))).toEqual(p);
    expect(() => makeProfile({ model: 'm', device: 'd', degrees: [1], entries: [{ resolution: 256, stepSeconds: { 1: 0 }, groupChangeSeconds: 0 }] })).toThrow(/positive number/);
  });
});
