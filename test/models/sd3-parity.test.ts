// SD3 / SD3.5 MMDiT parity: the TypeScript graph on tiny diffusers checkpoints against the float64 PyTorch reference.
import { describe, expect, it } from 'vitest';
import { goldenParity } from '../../src/models/parity.js';
import { testContext } from '../helpers/gpu.js';

// Same precision classes as FLUX; PyTorch bf16 + SDPA lands at 0.0076-0.0083 from float64; we measure ~4e-4.
const REL_L2_BOUND = 2e-3;

const CASES = [
  { name: 'sd3-tiny (fp16, stored pos table, context_pre_only last block)', dir: 'test/fixtures/tiny-models/sd3-tiny', golden: 'test/golden/sd3-tiny.safetensors' },
  { name: 'sd35-tiny (bf16, 2 shards, QK norm, dual attention)', dir: 'test/fixtures/tiny-models/sd35-tiny', golden: 'test/golden/sd35-tiny.safetensors' },
];

describe('SD3 graph vs float64 PyTorch reference', () => {
  it.each(CASES)('$name', async ({ dir, golden }) => {
    const ctx = await testContext();
    const r = await goldenParity(ctx, dir, golden);
    console.log(`${golden}: relL2 ${r.relL2.toExponential(3)}, max abs ${r.maxAbs.toExponential(3)} (bound ${REL_L2_BOUND})`);
    expect(r.family).toBe('sd3');
    expect(r.nonFinite).toBe(0);
    expect(r.relL2).toBeLessThan(REL_L2_BOUND);
  });
});
