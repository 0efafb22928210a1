// The layering rules (.dependency-cruiser.cjs, run by `npm test` over src/) fail on a forbidden import: here they
// run over a fixture tree with one allowed import (models -> util) and two forbidden ones (gpu -> models,
// scheduler -> util), and must report exactly the forbidden two with a failing exit status (the violation count).
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

describe('layering rules', () => {
  it('report an upward import and a scheduler import, and nothing else', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), 'src', '--config', join(ROOT, '.dependency-cruiser.cjs')], {
      cwd: join(ROOT, 'test/fixtures/layers'), encoding: 'utf8',
    });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(2); // depcruise exits with the number of violations
    expect(out).toMatch(/error gpu-imports-only-below: src\/gpu\/upward\.ts → src\/models\/family\.ts/);
    expect(out).toMatch(/error scheduler-imports-only-below: src\/scheduler\/leaky\.ts → src\/util\/ok\.ts/);
    expect(out).toMatch(/2 dependency violations \(2 errors/);
  }, 60_000);
});
