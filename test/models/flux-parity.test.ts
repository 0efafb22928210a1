// FLUX transformer parity: the TypeScript graph on the tiny checkpoints (real tensor names, both layouts) against
// the float64 PyTorch reference's golden outputs (bench/reference/make_goldens.py).
import { describe, expect, it } from 'vitest';
import { goldenParity } from '../../src/models/parity.js';
import { testContext } from '../helpers/gpu.js';

// f16 storage of weights/activations with f32 accumulation and an f32 residual stream. PyTorch's own bf16+SDPA run
// of the same weights lands at 0.0073-0.0078 from float64 (test/golden/README.md); we measure ~4.5e-4.
const REL_L2_BOUND = 2e-3;

const CASES = [
  { name: 'flux-tiny (BFL single file, bf16)', ckpt: 'test/fixtures/tiny-models/flux-tiny/flux1-tiny.safetensors', golden: 'test/golden/flux-tiny.safetensors' },
  { name: 'flux-tiny (diffusers folder, 2 shards, f32)', ckpt: 'test/fixtures/tiny-models/flux-tiny-diffusers', golden: 'test/golden/flux-tiny.safetensors' },
  { name: 'flux-tiny-schnell (no guidance, 2 double blocks)', ckpt: 'test/fixtures/tiny-models/flux-tiny-schnell/flux1-tiny-schnell.safetensors', golden: 'test/golden/flux-tiny-schnell.safetensors' },
];

describe('FLUX graph vs float64 PyTorch reference', () => {
  it.each(CASES)('$name', async ({ ckpt, golden }) => {
    const ctx = await testContext();
    const r = await goldenParity(ctx, ckpt, golden);
    console.log(`${golden}: relL2 ${r.relL2.toExponential(3)}, max abs ${r.maxAbs.toExponential(3)} (bound ${REL_L2_BOUND})`);
    expect(r.family).toBe('flux');
    expect(r.nonFinite).toBe(0);
    expect(r.relL2).toBeLessThan(REL_L2_BOUND);
  });
});
