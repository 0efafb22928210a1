// Quantized checkpoints through the real loader: the GGUF reader against files written by the `gguf` package's
// GGUFWriter (metadata, reversed dims, alignment, ComfyUI orig_shape, version 2), fp8 and GGUF weights uploaded by
// uploadWeights (bit-exact against the reference tools' dequantization, incl. scaled fp8 and row ranges at odd
// offsets), errors that name the file, the tensor and the type, a tiny FLUX run from fp8 / GGUF files and a tiny
// T5 encoder from a scaled fp8 file, each against the float64 reference with the error printed.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../../src/loading/checkpoint.js';
import { GgufFile } from '../../src/loading/gguf.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import type { WeightSource } from '../../src/loading/sources.js';
import { uploadWeights } from '../../src/loading/upload.js';
import { goldenParity } from '../../src/models/parity.js';
import { identify } from '../../src/models/registry.js';
import { formatQuantization, inspectQuantization } from '../../src/models/quant-inspect.js';
import { t5Family } from '../../src/models/t5/family.js';
import { T5Encoder } from '../../src/models/t5/runtime.js';
import { loadEncoderWeights } from '../../src/models/text-encoder-load.js';
import { ENC, get, readEncoderGolden } from '../models/encoder-goldens.js';
import { errorStats, testContext } from '../helpers/gpu.js';
import { writeFluxGguf, writeScaledFp8 } from './quant-helpers.js';

const DIR = 'test/fixtures/quant';
const tmp = await mkdtemp(join(tmpdir(), 'quant-test-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** Uploads `sources` from `path` and returns each weight's raw f16 bits (or f32 bits with f32 storage). */
async function upload(path: string, sources: WeightSource[], f32 = false): Promise<Map<string, Uint16Array | Uint32Array>> {
  const ctx = await testContext();
  const ck = await Checkpoint.open(path);
  try {
    const w = await uploadWeights(ctx, ck, sources, { dtypeOf: () => (f32 ? 'f32' : 'f16') });
    const out = new Map<string, Uint16Array | Uint32Array>();
    for (const [name, v] of w.views) {
      const n = v.shape.reduce((a, b) => a * b, 1);
      const raw = await ctx.readback(v.buffer, Math.ceil((n * (f32 ? 4 : 2)) / 4) * 4, v.offset);
      out.set(name, f32 ? new Uint32Array(raw, 0, n) : new Uint16Array(raw, 0, n));
    }
    w.destroy();
    return out;
  } finally {
    await ck.close();
  }
}

async function refBits(file: string, name: string, f32 = false): Promise<Uint16Array | Uint32Array> {
  const f = await SafetensorsFile.open(file);
  try {
    const raw = (await f.read(`${name}.${f32 ? 'f32' : 'f16'}`)).slice().buffer;
    return f32 ? new Uint32Array(raw) : new Uint16Array(raw);
  } finally {
    await f.close();
  }
}

/** Position of the n_dims field of tensor `name`'s info record in a GGUF file's bytes. */
function tensorInfoAt(buf: Uint8Array, name: string): number {
  const key = new Uint8Array(8 + name.length);
  new DataView(key.buffer).setBigUint64(0, BigInt(name.length), true);
  key.set(new TextEncoder().encode(name), 8);
  const at = Buffer.from(buf).indexOf(Buffer.from(key));
  if (at < 0) throw new Error(`no tensor info for ${name}`);
  return at + key.length;
}

async function patched(src: string, name: string, edit: (b: Uint8Array, dv: DataView) => Uint8Array | void): Promise<string> {
  const b = new Uint8Array(await readFile(src));
  const out = edit(b, new DataView(b.buffer, b.byteOffset, b.byteLength)) ?? b;
  const p = join(tmp, name);
  await writeFile(p, out);
  return p;
}

describe('GGUF reader', () => {
  it('reads what GGUFWriter wrote: version, metadata, tensor infos with torch-order shapes, alignment', async () => {
    const f = await GgufFile.open(`${DIR}/blocks.gguf`);
    try {
      expect(f.header.version).toBe(3);
      expect(f.header.alignment).toBe(32);
      expect(f.header.metadata.get('general.architecture')).toBe('flux');
      expect(f.header.metadata.get('test.ints')).toEqual([1, 2, 3]);
      expect(f.header.metadata.get('test.f32')).toBe(0.5);
      expect(f.header.metadata.get('test.flag')).toBe(true);
      expect(f.metadata['general.name']).toBe('tetriserve quant goldens');
      expect(f.info('q5_0.weight')).toMatchObject({ dtype: 'Q5_0', shape: [2, 3, 32], numel: 192, byteLength: 132 });
      expect(f.info('q4_k.weight')).toMatchObject({ dtype: 'Q4_K', shape: [3, 512], byteLength: 864 });
      expect(f.info('f32.weight')).toMatchObject({ dtype: 'F32', shape: [11] });
      expect(f.info('bf16.weight')).toMatchObject({ dtype: 'BF16', shape: [5, 9] });
      for (const t of f.tensors) expect((t.filePosition - f.header.dataStart) % 32).toBe(0);
    } finally {
      await f.close();
    }
    const g = await GgufFile.open(`${DIR}/blocks-align.gguf`);
    try {
      expect(g.header.alignment).toBe(64);
      expect(g.header.dataStart % 64).toBe(0);
      expect(g.info('reshaped.weight').shape).toEqual([4, 64]); // comfy.gguf.orig_shape wins over the stored [256]
    } finally {
      await g.close();
    }
  });

  it('opens version 2 files (same layout as 3)', async () => {
    const p = await patched(`${DIR}/blocks.gguf`, 'v2.gguf', (_, dv) => dv.setUint32(4, 2, true));
    const f = await GgufFile.open(p);
    expect(f.header.version).toBe(2);
    expect(f.tensors.length).toBe(11);
    await f.close();
  });

  it('refuses damaged files with the file, tensor and type named', async () => {
    const src = `${DIR}/blocks.gguf`;
    const bad = async (name: string, edit: (b: Uint8Array, dv: DataView) => Uint8Array | void, re: RegExp) => {
      const p = await patched(src, name, edit);
      await expect(GgufFile.open(p), name).rejects.toThrow(re);
      await expect(GgufFile.open(p)).rejects.toThrow(p);
    };
    await bad('magic.gguf', (b) => { b[0] = 0x47; b[3] = 0x47; }, /bad magic: expected "GGUF", found "GGUG"/);
    await bad('v1.gguf', (_, dv) => dv.setUint32(4, 1, true), /GGUF version 1 is not supported/);
    await bad('truncated.gguf', (b) => b.subarray(0, b.byteLength - 100), /truncated file: tensor 'q6_k.weight' \(Q6_K\) ends at data byte/);
    await bad('header-cut.gguf', (b) => b.subarray(0, 600), /truncated GGUF header: tensor 'bf16.weight' dim 0 needs bytes up to 601 but the file has 600/);
    await bad('offset.gguf', (b, dv) => {
      const at = tensorInfoAt(b, 'q4_0.weight');
      dv.setBigUint64(at + 4 + 16 + 4, 1n << 40n, true);
    }, /truncated file: tensor 'q4_0.weight' \(Q4_0\) ends at data byte/);
    await bad('misaligned.gguf', (b, dv) => {
      const at = tensorInfoAt(b, 'q4_0.weight');
      dv.setBigUint64(at + 4 + 16 + 4, dv.getBigUint64(at + 4 + 16 + 4, true) + 2n, true);
    }, /tensor 'q4_0.weight' offset \d+ is not aligned to 32/);
    await bad('type99.gguf', (b, dv) => dv.setUint32(tensorInfoAt(b, 'q8_0.weight') + 4 + 16, 99, true), /tensor 'q8_0.weight' has unknown GGML type id 99/);
    await bad('rows.gguf', (b, dv) => dv.setBigUint64(tensorInfoAt(b, 'q8_0.weight') + 4, 48n, true), /tensor 'q8_0.weight' \(Q8_0\) has rows of 48 values, not a multiple of the 32-value block/);
  });
});

describe('quantized weights through uploadWeights', () => {
  it('GGUF: every block type and F16/BF16/F32, f16 storage = the reference rounded to f16; f32 storage bit-exact', async () => {
    const f = await GgufFile.open(`${DIR}/blocks.gguf`);
    const sources: WeightSource[] = f.tensors.map((t) => ({ name: t.name, shape: t.shape, parts: [{ tensor: t.name }] }));
    await f.close();
    for (const f32 of [false, true]) {
      const got = await upload(`${DIR}/blocks.gguf`, sources, f32);
      for (const s of sources) {
        const want = await refBits(`${DIR}/blocks-ref.safetensors`, s.name, f32);
        const g = got.get(s.name)!;
        // The plain types go through kernels-wgsl/convert.ts, whose f32 -> f16 rounding may differ by one ulp.
        const plain = /^(f16|bf16|f32)\./.test(s.name);
        const off = Array.from(g).filter((v, i) => (plain ? Math.abs(v - want[i]) > 1 : v !== want[i])).length;
        expect(off, `${s.name} ${f32 ? 'f32' : 'f16'}`).toBe(0);
      }
    }
    const got = await upload(`${DIR}/blocks-align.gguf`, [{ name: 'r', shape: [3, 64], parts: [{ tensor: 'reshaped.weight', rowStart: 1, rowEnd: 3 }, { tensor: 'reshaped.weight', rowStart: 0, rowEnd: 1 }] }]);
    const want = await refBits(`${DIR}/blocks-ref.safetensors`, 'reshaped.weight');
    expect(Array.from(got.get('r')!.subarray(0, 192))).toEqual([...want.subarray(64, 192), ...want.subarray(0, 64)]);
  }, 60_000);

  it('fp8: scaled e4m3/e5m2 weights (scale_weight and weight_scale spellings), row ranges at odd offsets', async () => {
    const p = `${DIR}/fp8.safetensors`;
    const ck = await Checkpoint.open(p);
    // The scales and the scaled_fp8 marker are the loader's business, not model tensors.
    expect(ck.listTensors().sort()).toEqual(['codes_e4m3.weight', 'codes_e5m2.weight', 'plain_bias', 'scaled_a.weight', 'scaled_b.weight', 'scaled_c.weight']);
    await ck.close();
    const sources: WeightSource[] = [
      { name: 'a', shape: [7, 33], parts: [{ tensor: 'scaled_a.weight', rowStart: 4 }, { tensor: 'scaled_a.weight', rowEnd: 4 }] },
      { name: 'b', shape: [5, 19], parts: [{ tensor: 'scaled_b.weight' }] },
      { name: 'c', shape: [3, 11], parts: [{ tensor: 'scaled_c.weight' }] },
    ];
    for (const f32 of [false, true]) {
      const got = await upload(p, sources, f32);
      const a = await refBits(`${DIR}/fp8-ref.safetensors`, 'scaled_a.weight', f32);
      expect(Array.from(got.get('a')!)).toEqual([...a.subarray(4 * 33), ...a.subarray(0, 4 * 33)]);
      expect(Array.from(got.get('b')!)).toEqual(Array.from(await refBits(`${DIR}/fp8-ref.safetensors`, 'scaled_b.weight', f32)));
      expect(Array.from(got.get('c')!)).toEqual(Array.from(await refBits(`${DIR}/fp8-ref.safetensors`, 'scaled_c.weight', f32)));
    }
  });

  it('a weight holding NaN codes or a corrupt block is refused, naming the file, tensor and type', async () => {
    await expect(upload(`${DIR}/fp8.safetensors`, [{ name: 'x', shape: [16, 16], parts: [{ tensor: 'codes_e4m3.weight' }] }]))
      .rejects.toThrow(`${DIR}/fp8.safetensors: tensor 'codes_e4m3.weight' (F8_E4M3) holds 2 NaN/inf values`);
    // Q8_0 block 1 of q8_0.weight gets an infinite scale (f16 0x7c00).
    const info = (await GgufFile.open(`${DIR}/blocks.gguf`).then(async (f) => { const t = f.info('q8_0.weight'); await f.close(); return t; }));
    const p = await patched(`${DIR}/blocks.gguf`, 'inf-scale.gguf', (_, dv) => dv.setUint16(info.filePosition + 34, 0x7c00, true));
    await expect(upload(p, [{ name: 'x', shape: [3, 96], parts: [{ tensor: 'q8_0.weight' }] }]))
      .rejects.toThrow(`${p}: tensor 'q8_0.weight' (Q8_0) holds 32 values from corrupt blocks`);
    // A GGML type the engine does not dequantize is refused before anything is uploaded.
    const q2 = await patched(`${DIR}/blocks.gguf`, 'i8.gguf', (b, dv) => dv.setUint32(tensorInfoAt(b, 'f32.weight') + 4 + 8, 24, true));
    await expect(upload(q2, [{ name: 'x', shape: [11], parts: [{ tensor: 'f32.weight' }] }]))
      .rejects.toThrow(`${q2}: tensor 'f32.weight' has dtype I8, which the engine cannot load`);
  });
});

describe('tiny FLUX from fp8 and GGUF files vs the float64 reference', () => {
  const src = 'test/fixtures/tiny-models/flux-tiny/flux1-tiny.safetensors';
  const golden = 'test/golden/flux-tiny.safetensors';
  it('bf16 original, scaled fp8 e4m3fn, GGUF Q8_0 and Q4_0: errors reported, each within its bound', async () => {
    const ctx = await testContext();
    await writeScaledFp8(src, join(tmp, 'flux1-tiny-fp8-scaled.safetensors'));
    await writeFluxGguf(src, join(tmp, 'flux1-tiny-Q8_0.gguf'), 'Q8_0');
    await writeFluxGguf(src, join(tmp, 'flux1-tiny-Q4_0.gguf'), 'Q4_0');
    // Bounds: a few times the measured error (fp8 e4m3 keeps 3 mantissa bits: ~2.5% rms per weight).
    const runs = [
      { name: 'bf16 (original)', path: src, bound: 2e-3 },
      { name: 'fp8 e4m3fn scaled', path: join(tmp, 'flux1-tiny-fp8-scaled.safetensors'), bound: 0.1 },
      { name: 'GGUF Q8_0', path: join(tmp, 'flux1-tiny-Q8_0.gguf'), bound: 0.02 },
      { name: 'GGUF Q4_0', path: join(tmp, 'flux1-tiny-Q4_0.gguf'), bound: 0.3 },
    ];
    const lines: string[] = [];
    for (const r of runs) {
      const res = await goldenParity(ctx, r.path, golden);
      lines.push(`${r.name.padEnd(20)} relL2 ${res.relL2.toExponential(3)}  max abs ${res.maxAbs.toExponential(3)}  (bound ${r.bound})`);
      expect(res.family).toBe('flux');
      expect(res.nonFinite).toBe(0);
      expect(res.relL2, r.name).toBeLessThan(r.bound);
    }
    console.log(`tiny FLUX vs float64 reference (${golden}):\n${lines.join('\n')}`);
  }, 120_000);

  it('small chunks (many dispatches per weight, parts split mid-tensor) give the same weights as one chunk', async () => {
    const ctx = await testContext();
    const path = join(tmp, 'flux1-tiny-Q8_0.gguf');
    const bits = async (chunkBytes: number | undefined) => {
      const ck = await Checkpoint.open(path);
      const { family, config } = identify(ck);
      const w = await uploadWeights(ctx, ck, family.weightSources(config), { chunkBytes });
      await ck.close();
      const out = new Map<string, Uint8Array>();
      for (const [name, v] of w.views) out.set(name, new Uint8Array(await ctx.readback(v.buffer, Math.ceil((v.shape.reduce((a, b) => a * b, 1) * 2) / 4) * 4, v.offset)));
      w.destroy();
      return out;
    };
    const big = await bits(undefined);
    const small = await bits(4096); // 4 KiB chunks: ~120 Q8_0 blocks, a linear1 weight takes 20+ dispatches
    expect([...small.keys()]).toEqual([...big.keys()]);
    for (const [name, b] of big) expect(Buffer.compare(Buffer.from(small.get(name)!), Buffer.from(b)), name).toBe(0);
  });

  it('dit inspect: each file\'s quantization and the GPU memory of each mode', async () => {
    const fp8 = await inspectQuantization(join(tmp, 'flux1-tiny-fp8-scaled.safetensors'));
    const q4 = await inspectQuantization(join(tmp, 'flux1-tiny-Q4_0.gguf'));
    const bf16 = await inspectQuantization(src);
    console.log([...formatQuantization(bf16), ...formatQuantization(fp8), ...formatQuantization(q4)].join('\n'));
    expect(bf16.label).toBe('none (BF16)');
    expect(fp8.label).toBe('F8_E4M3 scaled (+ BF16, F32)');
    expect(fp8.files[0].scaledFp8).toBe(fp8.files[0].dtypes.F8_E4M3.tensors - 1); // the scaled_fp8 marker is an fp8 tensor too
    expect(q4.label).toBe('GGUF Q4_0 (+ F32)');
    expect(q4.files[0].container).toBe('gguf');
    // Same model, same storage when expanded; kept quantized, Q4_0 (18 bytes per 32 values) < fp8 (1 byte per value) < f16.
    expect(fp8.memory.expand).toBe(bf16.memory.expand);
    expect(q4.memory.expand).toBe(bf16.memory.expand);
    expect(bf16.memory.resident).toBe(bf16.memory.expand);
    expect(q4.memory.resident).toBeLessThan(fp8.memory.resident);
    expect(fp8.memory.resident).toBeLessThan(fp8.memory.expand);
  });
});

describe('T5 encoder from a scaled fp8 file (t5xxl_fp8_e4m3fn_scaled layout)', () => {
  it('tiny T5: sharded bf16/f32 folder -> one scaled fp8 file; hidden states vs float64 transformers', async () => {
    const ctx = await testContext();
    const dir = join(tmp, 't5-fp8');
    await mkdir(dir, { recursive: true });
    await writeScaledFp8(`${ENC}/t5`, join(dir, 't5xxl_fp8_e4m3fn_scaled.safetensors'));
    await copyFile(`${ENC}/t5/config.json`, join(dir, 'config.json'));
    const { tensors: gold } = await readEncoderGolden('encoders-golden.safetensors');
    const lines: string[] = [];
    for (const [name, path, bound] of [['original', `${ENC}/t5`, 2e-3], ['fp8 scaled', join(dir, 't5xxl_fp8_e4m3fn_scaled.safetensors'), 0.1]] as const) {
      const w = await loadEncoderWeights(ctx, t5Family, path);
      try {
        const enc = new T5Encoder(ctx, w.store, w.config);
        const out = await enc.encode(get(gold, 't5.prompt.ids').data);
        const e = errorStats(out, get(gold, 't5.prompt.hidden').data);
        enc.destroyPlans();
        lines.push(`T5 ${name.padEnd(11)} relL2 ${e.relL2.toExponential(3)} (bound ${bound})`);
        expect(e.nonFinite).toBe(0);
        expect(e.relL2, name).toBeLessThan(bound);
      } finally {
        w.destroy();
      }
    }
    console.log(lines.join('\n'));
  }, 60_000);
});
