// Shared fixtures for scheduler tests: the shipped profile, synthetic profiles, a tiny seeded RNG.
import { readFileSync } from 'node:fs';
import { parseProfile, PROFILE_FORMAT, type LatencyProfile } from '../../src/scheduler/profile.js';
import { Rng } from '../../src/sim/rng.js';

export function shippedProfile(): LatencyProfile {
  return parseProfile(JSON.parse(readFileSync(new URL('../../profiles/flux1-dev-h100.json', import.meta.url), 'utf8')), 'profiles/flux1-dev-h100.json');
}

/** A random but physically shaped profile: step time falls with degree, GPU-seconds per step rise with it. */
export function randomProfile(rng: Rng, degrees = [1, 2, 4, 8]): LatencyProfile {
  const entries = [256, 512, 1024, 2048].map((resolution, i) => {
    const base = 0.02 * 4 ** i * (0.5 + rng.next());
    const stepSeconds: Record<string, number> = {};
    let t = base;
    for (const d of degrees) {
      stepSeconds[String(d)] = t;
      // Next degree: faster but not perfectly (efficiency 0.5..0.95), occasionally not faster at all.
      t = rng.next() < 0.1 ? t * 1.05 : (t / 2) * (1 / (0.5 + 0.45 * rng.next()));
    }
    return { resolution, stepSeconds, groupChangeSeconds: 0.01 * rng.next() };
  });
  return parseProfile({ format: PROFILE_FORMAT, model: 'synthetic', device: 'synthetic', degrees, entries });
}

export { Rng };

/** Seed for property tests: fixed by TEST_SEED for reproduction, otherwise fresh; always printed on failure. */
export function propertySeed(): number {
  const env = process.env.TEST_SEED;
  return env !== undefined ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}
