// The worked example of adding a model family (docs/architecture.md): the tiny DiT lives in one folder
// (src/models/tiny-dit/) plus one line in src/models/registry.ts, and the generic machinery does the rest:
// a synthetic checkpoint written from its expected tensors, detection and config inference through the registry,
// upload (biases kept f32 through WeightSource.dtype), and golden parity against the independent float64
// reference (test/graph/reference/tiny-dit-ref.ts) with fresh random weights and inputs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticCheckpoint } from '../../src/bench/synthetic.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { writeSafetensors } from '../../src/loading/safetensors-writer.js';
import { goldenParity } from '../../src/models/parity.js';
import { FAMILIES, inspectModel } from '../../src/models/registry.js';
import { TINY_DIT_DEFAULT, tinyDit, type TinyDitConfig } from '../../src/models/tiny-dit/index.js';
import { f16BitsToF32 } from '../../src/util/f16.js';
import { freshSeed, randn, rng, testContext } from '../helpers/gpu.js';
import { tinyDitRef, type Weights } from '../graph/reference/tiny-dit-ref.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tiny-family-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const f32Bytes = (a: ArrayLike<number>) => new Uint8Array(Float32Array.from(a).buffer);

async function readWeights(file: string): Promise<Weights> {
  const f = await SafetensorsFile.open(file);
  const w: Weights = new Map();
  for (const name of f.names()) {
    const b = await f.read(name);
    w.set(name, Float64Array.from(new Uint16Array(b.slice().buffer), f16BitsToF32));
  }
  await f.close();
  return w;
}

describe('tiny test-only family (one folder + one registry line)', () => {
  it('is registered, loads through the registry and matches the float64 reference via golden parity', async () => {
    expect(FAMILIES).toContain(tinyDit);
    const seed = freshSeed();
    const rand = rng(seed);
    const { batch, gridH, gridW, ...rest } = TINY_DIT_DEFAULT;
    const cfg: TinyDitConfig = { ...rest, depth: 3 };
    const ckpt = join(dir, `tiny-${seed}`);
    await writeSyntheticCheckpoint(ckpt, cfg, { dtype: 'F16', seed });

    const info = await inspectModel(ckpt);
    expect(info.family.id).toBe('tiny-dit');
    expect(info.config).toEqual(cfg);

    // Golden from the independent reference: tokens [B, gridH, gridW, P], cond [B, Cc] -> out [B, L, P].
    const weights = await readWeights(join(ckpt, 'diffusion_pytorch_model.safetensors'));
    const tokens = randn(rand, batch * gridH * gridW * cfg.patchDim, 1, 'f16');
    const cond = randn(rand, batch * cfg.condDim, 1, 'f16');
    const out = tinyDitRef({ ...cfg, batch, gridH, gridW }, weights, tokens, cond);
    const golden = join(dir, `golden-${seed}.safetensors`);
    const goldenOf = (o: ArrayLike<number>) => writeSafetensors(golden, [
      { name: 'input.tokens', dtype: 'F32', shape: [batch, gridH, gridW, cfg.patchDim], data: f32Bytes(tokens) },
      { name: 'input.cond', dtype: 'F32', shape: [batch, cfg.condDim], data: f32Bytes(cond) },
      { name: 'output.out', dtype: 'F32', shape: [batch, gridH * gridW, cfg.patchDim], data: f32Bytes(o) },
    ]);
    await goldenOf(out);
    const ctx = await testContext();
    const r = await goldenParity(ctx, ckpt, golden);
    expect(r.family).toBe('tiny-dit');
    expect(r.nonFinite).toBe(0);
    // Same precision classes as test/graph/tiny-dit.test.ts (f16 activations, f32 residual): measured ~4e-4.
    expect(r.relL2, `tiny family parity (seed ${seed})`).toBeLessThan(2e-3);

    // The check can fail: a golden with every 7th output value 5% off is caught.
    const wrong = Float64Array.from(out, (v, i) => (i % 7 === 0 ? v * 1.05 : v));
    await goldenOf(wrong);
    expect((await goldenParity(ctx, ckpt, golden)).relL2).toBeGreaterThan(5e-3);
  });
});
