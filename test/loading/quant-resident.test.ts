// Weights kept quantized on the GPU (weights mode 'resident', graph/packed.ts): the executor expands each packed
// weight into a transient f16 arena tensor just before the ops that read it. Checked here:
// - for every block type and scaled fp8 (row ranges at odd offsets), the transient f16 weight is bit-identical to
//   the weight expand mode keeps, and a real linear reading it gives the same result (poisoned arena first);
// - damaged data is refused at load in resident mode too, with the file, tensor and type named;
// - tiny FLUX (fp8 scaled, GGUF Q8_0 / Q4_0 / Q4_K) and tiny T5 (scaled fp8, GGUF with llama.cpp's names):
//   resident = expand bit for bit on fresh random inputs, both within bound of the float64 reference, with
//   less weight memory and only a transient f16 copy per layer.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { compile } from '../../src/graph/executor.js';
import { Graph } from '../../src/graph/graph.js';
import { linear } from '../../src/graph/ops/matmul.js';
import { WeightStore } from '../../src/graph/weights.js';
import { Checkpoint } from '../../src/loading/checkpoint.js';
import { GgufFile } from '../../src/loading/gguf.js';
import type { WeightSource } from '../../src/loading/sources.js';
import { registerWeights, uploadWeights, type WeightsMode } from '../../src/loading/upload.js';
import { FluxTransformer } from '../../src/models/flux/graph.js';
import type { FluxConfig } from '../../src/models/flux/config.js';
import { readGolden } from '../../src/models/golden.js';
import { loadModel } from '../../src/models/registry.js';
import { inspectQuantization } from '../../src/models/quant-inspect.js';
import { t5Family } from '../../src/models/t5/family.js';
import { T5Encoder } from '../../src/models/t5/runtime.js';
import { loadEncoderWeights } from '../../src/models/text-encoder-load.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { get, readEncoderGolden } from '../models/encoder-goldens.js';
import { errorStats, freshSeed, POISON_F16, randn, rng, testContext } from '../helpers/gpu.js';
import { writeFluxGguf, writeScaledFp8 } from './quant-helpers.js';

const DIR = 'test/fixtures/quant';
const tmp = await mkdtemp(join(tmpdir(), 'quant-resident-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** Expand-mode bits of each weight (f16 words). */
async function expanded(ctx: GpuContext, path: string, sources: WeightSource[]): Promise<Map<string, Uint16Array>> {
  const ck = await Checkpoint.open(path);
  try {
    const w = await uploadWeights(ctx, ck, sources);
    const out = new Map<string, Uint16Array>();
    for (const [name, v] of w.views) {
      const n = v.shape.reduce((a, b) => a * b, 1);
      out.set(name, new Uint16Array(await ctx.readback(v.buffer, Math.ceil((n * 2) / 4) * 4, v.offset), 0, n));
    }
    w.destroy();
    return out;
  } finally {
    await ck.close();
  }
}

/**
 * Resident mode: each weight packed; a graph reads it through a reshape to [rows, K] and a linear with the
 * identity (out = W^T exactly: every product is w * 1 or w * 0, accumulated in f32). Returns, per weight, the
 * transient f16 bits and the linear's output; the arena is poisoned before the run.
 */
async function residentThroughGraph(ctx: GpuContext, path: string, sources: WeightSource[]) {
  const ck = await Checkpoint.open(path);
  const w = await uploadWeights(ctx, ck, sources, { weightsMode: 'resident' }).finally(() => ck.close());
  const store = new WeightStore();
  registerWeights(store, w);
  const out = new Map<string, { bits: Uint16Array; wt: Float32Array; packedBytes: number }>();
  try {
    for (const s of sources) {
      const pw = store.packed(s.name);
      expect(pw, `${s.name} is kept packed`).toBeDefined();
      const K = s.shape[s.shape.length - 1];
      const N = s.shape.reduce((a, b) => a * b, 1) / K;
      const g = new Graph(`resident-${s.name}`);
      const x = g.input('x', [K, K], 'f16');
      const wt = g.weight(s.name, s.shape, 'f16');
      const y = linear(g, x, g.reshape(wt, [N, K]), { name: 'identity' }); // [K, N] = W^T
      g.output('y', y);
      const plan = await compile(ctx, g, store);
      try {
        expect(plan.stats.weightBytes).toBe(pw!.bytes);
        const eye = new Float32Array(K * K);
        for (let i = 0; i < K; i++) eye[i * K + i] = 1;
        for (const t of [wt, y]) ctx.fill(plan.view(t).buffer, POISON_F16);
        plan.setInput('x', eye);
        await plan.run();
        const v = plan.view(wt);
        const n = N * K;
        const bits = new Uint16Array(await ctx.readback(v.buffer, Math.ceil((n * 2) / 4) * 4, v.offset), 0, n);
        out.set(s.name, { bits, wt: await plan.readOutput('y'), packedBytes: pw!.bytes });
      } finally {
        plan.destroy();
      }
    }
  } finally {
    w.destroy();
    store.destroy();
  }
  return out;
}

const f16 = (h: number) => {
  const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
  return e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
};

describe('resident weights: the transient f16 weight equals expand mode\'s, bit for bit', () => {
  it('GGUF: every block type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), ranks 2 and 3', async () => {
    const ctx = await testContext();
    const f = await GgufFile.open(`${DIR}/blocks.gguf`);
    const sources: WeightSource[] = f.tensors.filter((t) => /^q/.test(t.name)).map((t) => ({ name: t.name, shape: t.shape, parts: [{ tensor: t.name }] }));
    await f.close();
    expect(sources.length).toBe(8);
    const want = await expanded(ctx, `${DIR}/blocks.gguf`, sources);
    const got = await residentThroughGraph(ctx, `${DIR}/blocks.gguf`, sources);
    for (const s of sources) {
      const g = got.get(s.name)!;
      const w = want.get(s.name)!;
      const diff = g.bits.reduce((a, b, i) => a + (b !== w[i] ? 1 : 0), 0);
      expect(diff, `${s.name}: transient f16 words differing from expand mode`).toBe(0);
      // The linear read the transient: y = W^T exactly (signed zeros aside).
      const K = s.shape[s.shape.length - 1];
      const N = w.length / K;
      let bad = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) if (g.wt[k * N + n] !== f16(w[n * K + k])) bad++;
      expect(bad, `${s.name}: identity linear over the resident weight`).toBe(0);
      expect(g.packedBytes).toBeLessThan(w.length * 2 + 256);
    }
  }, 60_000);

  it('constants derived from packed weights (a concatenation, an unaligned row slice) are built from their expansion', async () => {
    const ctx = await testContext();
    const sources: WeightSource[] = [
      { name: 'a', shape: [3, 96], parts: [{ tensor: 'q8_0.weight' }] },
      { name: 'b', shape: [3, 96], parts: [{ tensor: 'q5_1.weight' }] },
    ];
    const want = await expanded(ctx, `${DIR}/blocks.gguf`, sources);
    const ck = await Checkpoint.open(`${DIR}/blocks.gguf`);
    const w = await uploadWeights(ctx, ck, sources, { weightsMode: 'resident' }).finally(() => ck.close());
    const store = new WeightStore();
    registerWeights(store, w);
    const g = new Graph('derived');
    const x = g.input('x', [96, 96], 'f16');
    const a = g.weight('a', [3, 96], 'f16');
    const b = g.weight('b', [3, 96], 'f16');
    // [b; a] (a weight concatenation: a derived constant) and rows 1..2 of a (byte offset 192: not bindable, copied).
    g.output('cat', linear(g, x, g.concatRows([b, a]), { name: 'cat' }));
    g.output('slice', linear(g, x, g.sliceRows(a, 1, 2), { name: 'slice' }));
    const plan = await compile(ctx, g, store);
    try {
      const eye = new Float32Array(96 * 96);
      for (let i = 0; i < 96; i++) eye[i * 96 + i] = 1;
      plan.setInput('x', eye);
      for (const o of ['cat', 'slice']) ctx.fill(plan.tensorView(o).buffer, POISON_F16);
      await plan.run();
      const cat = await plan.readOutput('cat'); // [96, 6] = [b; a]^T
      const slice = await plan.readOutput('slice'); // [96, 2] = a[1..2]^T
      const rows = [...[0, 1, 2].map((r) => want.get('b')!.subarray(r * 96, r * 96 + 96)), ...[0, 1, 2].map((r) => want.get('a')!.subarray(r * 96, r * 96 + 96))];
      let bad = 0;
      for (let k = 0; k < 96; k++) {
        for (let n = 0; n < 6; n++) if (cat[k * 6 + n] !== f16(rows[n][k])) bad++;
        for (let n = 0; n < 2; n++) if (slice[k * 2 + n] !== f16(rows[3 + 1 + n][k])) bad++;
      }
      expect(bad).toBe(0);
    } finally {
      plan.destroy();
      w.destroy();
      store.destroy();
    }
  });

  it('scaled fp8 (e4m3 scale_weight, e5m2, weight_scale), a fused weight of row ranges at odd offsets', async () => {
    const ctx = await testContext();
    const p = `${DIR}/fp8.safetensors`;
    const sources: WeightSource[] = [
      // Two parts, each with its own scale, starting at element 0 and 3*33 (not a 256-byte boundary).
      { name: 'a', shape: [7, 33], parts: [{ tensor: 'scaled_a.weight', rowStart: 4 }, { tensor: 'scaled_a.weight', rowEnd: 4 }] },
      { name: 'ab', shape: [12, 19], parts: [{ tensor: 'scaled_b.weight' }, { tensor: 'scaled_b.weight', rowStart: 1, rowEnd: 5 }, { tensor: 'scaled_b.weight', rowEnd: 3 }] },
      { name: 'c', shape: [3, 11], parts: [{ tensor: 'scaled_c.weight' }] },
    ];
    const want = await expanded(ctx, p, sources);
    const got = await residentThroughGraph(ctx, p, sources);
    for (const s of sources) {
      expect(Array.from(got.get(s.name)!.bits), s.name).toEqual(Array.from(want.get(s.name)!));
      expect(got.get(s.name)!.packedBytes, s.name).toBeLessThan(want.get(s.name)!.length * 2 + 256 * 3);
    }
  });

  it('damaged data is refused at load in resident mode too, naming the file, tensor and type', async () => {
    const ctx = await testContext();
    const load = async (path: string, sources: WeightSource[]) => {
      const ck = await Checkpoint.open(path);
      try {
        (await uploadWeights(ctx, ck, sources, { weightsMode: 'resident' })).destroy();
      } finally {
        await ck.close();
      }
    };
    await expect(load(`${DIR}/fp8.safetensors`, [{ name: 'x', shape: [16, 16], parts: [{ tensor: 'codes_e4m3.weight' }] }]))
      .rejects.toThrow(`${DIR}/fp8.safetensors: tensor 'codes_e4m3.weight' (F8_E4M3) holds 2 NaN/inf values`);
    const f = await GgufFile.open(`${DIR}/blocks.gguf`);
    const info = f.info('q8_0.weight');
    await f.close();
    const b = new Uint8Array(await readFile(`${DIR}/blocks.gguf`));
    new DataView(b.buffer).setUint16(info.filePosition + 34, 0x7c00, true); // block 1: infinite scale
    const p = join(tmp, 'inf-scale.gguf');
    await writeFile(p, b);
    await expect(load(p, [{ name: 'x', shape: [3, 96], parts: [{ tensor: 'q8_0.weight' }] }]))
      .rejects.toThrow(`${p}: tensor 'q8_0.weight' (Q8_0) holds 32 values from corrupt blocks`);
    await expect(uploadWeights(ctx, { info: () => { throw new Error('unused'); }, readInto: async () => {}, has: () => false }, [], { weightsMode: 'packed' as WeightsMode }))
      .rejects.toThrow("weights mode 'packed' is not one of expand, resident");
  });
});

describe('tiny FLUX in resident mode', () => {
  const src = 'test/fixtures/tiny-models/flux-tiny/flux1-tiny.safetensors';
  const golden = 'test/golden/flux-tiny.safetensors';

  it('fp8 scaled, GGUF Q8_0 and Q4_0: resident = expand bit for bit (fresh random inputs), both near float64, less memory', async () => {
    const ctx = await testContext();
    await writeScaledFp8(src, join(tmp, 'flux-fp8.safetensors'));
    await writeFluxGguf(src, join(tmp, 'flux-Q8_0.gguf'), 'Q8_0');
    await writeFluxGguf(src, join(tmp, 'flux-Q4_0.gguf'), 'Q4_0');
    const gold = await readGolden(golden);
    const need = (k: string) => gold.get(k)!;
    const [, , H, W] = need('input.latents').shape;
    const Lt = need('input.txt').shape[1];
    const seed = freshSeed();
    const lines: string[] = [];
    for (const [name, path, bound] of [['fp8 scaled', join(tmp, 'flux-fp8.safetensors'), 0.1], ['GGUF Q8_0', join(tmp, 'flux-Q8_0.gguf'), 0.02], ['GGUF Q4_0', join(tmp, 'flux-Q4_0.gguf'), 0.3]] as const) {
      const runs = new Map<WeightsMode, { golden: Float32Array; random: Float32Array; weightBytes: number; dispatches: number; gpuBytes: number; packed: number }>();
      for (const mode of ['expand', 'resident'] as const) {
        const store = new WeightStore();
        const loaded = await loadModel<FluxConfig>(ctx, path, { store, weightsMode: mode });
        const cfg = loaded.config;
        const model = await FluxTransformer.create(ctx, store, cfg, { batch: 1, txtTokens: Lt, gridH: H / 2, gridW: W / 2 });
        try {
          const poison = () => ctx.fill(model.plan.tensorView('velocity').buffer, POISON_F16);
          poison();
          const g = await model.forward({
            img: need('input.img').data, txt: need('input.txt').data, pooled: need('input.y').data,
            timesteps: Array.from(need('input.timesteps').data), guidance: gold.has('input.guidance') ? Array.from(need('input.guidance').data) : undefined,
          });
          const r = rng(seed);
          poison();
          const x = await model.forward({
            img: randn(r, need('input.img').data.length), txt: randn(r, need('input.txt').data.length), pooled: randn(r, need('input.y').data.length),
            timesteps: [r()], guidance: cfg.guidanceEmbed ? [1 + 4 * r()] : undefined,
          });
          runs.set(mode, { golden: g, random: x, weightBytes: model.plan.stats.weightBytes, dispatches: model.plan.stats.dispatches, gpuBytes: loaded.weights.gpuBytes, packed: loaded.weights.packed.size });
        } finally {
          model.destroy();
          loaded.weights.destroy();
          store.destroy();
        }
      }
      const e = runs.get('expand')!, rs = runs.get('resident')!;
      const eRef = errorStats(e.golden, need('output.velocity_packed').data);
      const rRef = errorStats(rs.golden, need('output.velocity_packed').data);
      lines.push(`${name.padEnd(11)} relL2 vs float64: expand ${eRef.relL2.toExponential(3)}, resident ${rRef.relL2.toExponential(3)} (bound ${bound}); ` +
        `weights ${e.gpuBytes} -> ${rs.gpuBytes} bytes (${rs.packed} packed), dispatches ${e.dispatches} -> ${rs.dispatches}`);
      expect(rRef.nonFinite, name).toBe(0);
      expect(rRef.relL2, name).toBeLessThan(bound);
      expect(rs.packed, name).toBeGreaterThan(10);
      expect(rs.gpuBytes, name).toBeLessThan(e.gpuBytes);
      expect(rs.weightBytes, name).toBe(rs.gpuBytes);
      // `dit inspect` predicts both modes' weight memory from the headers alone.
      const q = await inspectQuantization(path);
      expect(q.memory.expand, `${name}: inspect, expand`).toBe(e.gpuBytes);
      expect(q.memory.resident, `${name}: inspect, resident`).toBe(rs.gpuBytes);
      expect(rs.dispatches, name).toBeGreaterThanOrEqual(e.dispatches + rs.packed);
      // Same weights, same kernels: the outputs must be identical, on the golden's inputs and on fresh random ones.
      expect(Buffer.compare(Buffer.from(rs.golden.buffer), Buffer.from(e.golden.buffer)), `${name}: golden inputs`).toBe(0);
      expect(rs.random.every(Number.isFinite), `${name} (seed ${seed})`).toBe(true);
      expect(Buffer.compare(Buffer.from(rs.random.buffer), Buffer.from(e.random.buffer)), `${name}: random inputs (seed ${seed})`).toBe(0);
    }
    console.log(`tiny FLUX, resident vs expand (seed ${seed}):\n${lines.join('\n')}`);
  }, 180_000);
});

describe('tiny T5 encoder from a llama.cpp GGUF (t5encoder names), both weights modes', () => {
  const gguf = `${DIR}/t5-tiny-Q8_0.gguf`;

  it('llama.cpp names map onto the T5 family; Q8_0 weights equal gguf.dequantize; resident = expand; near float64', async () => {
    const ctx = await testContext();
    const { tensors: gold } = await readEncoderGolden('encoders-golden.safetensors');
    const ids = get(gold, 't5.prompt.ids').data;
    const seed = freshSeed();
    const r = rng(seed);
    const L = 5 + Math.floor(r() * 20);
    const cfg0 = (await loadEncoderWeights(ctx, t5Family, gguf).then((w) => { w.destroy(); return w.config; }));
    const randomIds = Array.from({ length: L }, () => Math.floor(r() * cfg0.vocabSize));
    const out = new Map<WeightsMode, { prompt: Float32Array; random: Float32Array; gpuBytes: number; packed: string[] }>();
    for (const mode of ['expand', 'resident'] as const) {
      const w = await loadEncoderWeights(ctx, t5Family, gguf, undefined, { weightsMode: mode });
      try {
        expect(w.config).toMatchObject({ dModel: 80, numLayers: 2, numHeads: 4, dKv: 16, dFf: 96, vocabSize: 344, numBuckets: 32, maxDistance: 128, eps: 1e-6 });
        if (mode === 'expand') {
          // The Q8_0 weights (attn_o, ffn_down) are gguf.quants.dequantize's values rounded to f16, bit for bit.
          const ref = await SafetensorsFile.open(`${DIR}/t5-tiny-Q8_0-ref.safetensors`);
          try {
            for (const [canon, hf] of [['block.0.o', 'encoder.block.0.layer.0.SelfAttention.o.weight'], ['block.1.wo', 'encoder.block.1.layer.1.DenseReluDense.wo.weight']]) {
              const v = w.store.get(canon);
              const n = v.shape.reduce((a, b) => a * b, 1);
              const got = new Uint16Array(await ctx.readback(v.buffer, Math.ceil((n * 2) / 4) * 4, v.offset), 0, n);
              expect(Array.from(got), canon).toEqual(Array.from(new Uint16Array((await ref.read(`${hf}.f16`)).slice().buffer)));
            }
          } finally {
            await ref.close();
          }
        }
        const enc = new T5Encoder(ctx, w.store, w.config);
        const packed = w.store.names().filter((n) => w.store.packed(n));
        const prompt = await enc.encode(ids);
        const random = await enc.encode(randomIds);
        enc.destroyPlans();
        out.set(mode, { prompt, random, gpuBytes: w.gpuBytes, packed });
      } finally {
        w.destroy();
      }
    }
    const e = out.get('expand')!, rs = out.get('resident')!;
    expect(e.packed).toEqual([]);
    expect(rs.packed.sort()).toEqual(['block.0.o', 'block.0.wo', 'block.1.o', 'block.1.wo']);
    expect(rs.gpuBytes).toBeLessThan(e.gpuBytes);
    const err = errorStats(rs.prompt, get(gold, 't5.prompt.hidden').data);
    console.log(`T5 GGUF (Q8_0 attn_o/ffn_down, F16 rest) relL2 vs float64 ${err.relL2.toExponential(3)}; weights ${e.gpuBytes} -> ${rs.gpuBytes} bytes resident (seed ${seed}, L=${L})`);
    expect(err.nonFinite).toBe(0);
    expect(err.relL2).toBeLessThan(0.02);
    expect(Buffer.compare(Buffer.from(rs.prompt.buffer), Buffer.from(e.prompt.buffer)), 'prompt').toBe(0);
    expect(rs.random.every(Number.isFinite)).toBe(true);
    expect(Buffer.compare(Buffer.from(rs.random.buffer), Buffer.from(e.random.buffer)), `random ids (seed ${seed})`).toBe(0);
  }, 60_000);

  it('a corrupt block in a llama.cpp-named tensor is refused in both modes, naming the file, the tensor and the type', async () => {
    const ctx = await testContext();
    const f = await GgufFile.open(gguf);
    const name = 'encoder.block.1.layer.0.SelfAttention.o.weight';
    expect(f.storedName(name)).toBe('enc.blk.1.attn_o.weight');
    const info = f.info(name);
    await f.close();
    const b = new Uint8Array(await readFile(gguf));
    new DataView(b.buffer).setUint16(info.filePosition + 34 * 3, 0x7e00, true); // block 3: NaN scale
    const p = join(tmp, 't5-nan-block.gguf');
    await writeFile(p, b);
    for (const weightsMode of ['expand', 'resident'] as const) {
      await expect(loadEncoderWeights(ctx, t5Family, p, undefined, { weightsMode }))
        .rejects.toThrow(`${p}: tensor '${name}' (enc.blk.1.attn_o.weight in the file) (Q8_0) holds 32 values from corrupt blocks`);
    }
  });
});
