// The dequantization kernel, bit for bit against the reference tools' own dequantization
// (bench/reference/make_quant_goldens.py: torch's float8 dtypes, the Python `gguf` package's dequantize):
// all 256 codes of both fp8 formats (NaN/inf/subnormals included), scaled fp8, and every GGUF block type, into f16
// (= the reference's value rounded to f16 by torch/numpy) and f32 (= the reference's f32), written at an odd
// element offset inside a poisoned buffer so neighbouring halves must survive.
import { describe, expect, it } from 'vitest';
import { allocTensor, runCalls, type TensorView } from '../../src/gpu/kernel.js';
import { DEQUANT_BLOCKS, dequant, isDequantFormat, type DequantFormat } from '../../src/kernels-wgsl/dequant.js';
import { GgufFile } from '../../src/loading/gguf.js';
import { SafetensorsFile } from '../../src/loading/safetensors.js';
import { testContext } from '../helpers/gpu.js';

const DIR = 'test/fixtures/quant';
const POISON16 = 0x7e01;

interface Case { name: string; format: DequantFormat; raw: Uint8Array; n: number; want16: Uint16Array; want32: Uint32Array; scale?: number }

async function cases(): Promise<Case[]> {
  const out: Case[] = [];
  const fp8 = await SafetensorsFile.open(`${DIR}/fp8.safetensors`);
  const fp8Ref = await SafetensorsFile.open(`${DIR}/fp8-ref.safetensors`);
  const gg = await GgufFile.open(`${DIR}/blocks.gguf`);
  const ggRef = await SafetensorsFile.open(`${DIR}/blocks-ref.safetensors`);
  try {
    for (const name of ['codes_e4m3.weight', 'codes_e5m2.weight', 'scaled_a.weight', 'scaled_b.weight', 'scaled_c.weight']) {
      const t = fp8.info(name);
      const scaleName = ['scale_weight', 'weight_scale'].map((s) => name.replace(/weight$/, s)).find((s) => fp8.has(s));
      const scale = scaleName ? new Float32Array((await fp8.read(scaleName)).slice().buffer)[0] : undefined;
      out.push({
        name, format: t.dtype as DequantFormat, raw: await fp8.read(name), n: t.numel, scale,
        want16: new Uint16Array((await fp8Ref.read(`${name}.f16`)).slice().buffer),
        want32: new Uint32Array((await fp8Ref.read(`${name}.f32`)).slice().buffer),
      });
    }
    for (const t of gg.tensors) {
      if (!isDequantFormat(t.dtype)) continue;
      out.push({
        name: t.name, format: t.dtype, raw: await gg.read(t.name), n: t.numel,
        want16: new Uint16Array((await ggRef.read(`${t.name}.f16`)).slice().buffer),
        want32: new Uint32Array((await ggRef.read(`${t.name}.f32`)).slice().buffer),
      });
    }
  } finally {
    await Promise.all([fp8.close(), fp8Ref.close(), gg.close(), ggRef.close()]);
  }
  return out;
}

const isNan16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const hex = (v: number) => `0x${v.toString(16)}`;

describe('dequant kernel vs torch float8 / gguf.quants.dequantize', async () => {
  const all = await cases();
  it('covers every format the loader dequantizes', () => {
    expect(new Set(all.map((c) => c.format))).toEqual(new Set(Object.keys(DEQUANT_BLOCKS)));
  });
  for (const c of all) {
    it(`${c.name} (${c.format}${c.scale !== undefined ? `, scale ${c.scale}` : ''}, ${c.n} values): f16 and f32 bit-exact`, async () => {
      const ctx = await testContext();
      const src = allocTensor(ctx, [Math.ceil(c.raw.byteLength / 4)], 'u32');
      const padded = new Uint8Array(Math.ceil(c.raw.byteLength / 4) * 4);
      padded.set(c.raw);
      ctx.write(src.buffer, padded);
      const counts = ctx.createBuffer(16);
      ctx.fill(counts, 0, 16);
      const base = 3; // odd: the first and last f16 words are shared with poisoned neighbours
      const d16: TensorView = allocTensor(ctx, [c.n + base + 2], 'f16');
      ctx.write(d16.buffer, new Uint16Array(c.n + base + 2 + ((c.n + base) % 2 === 0 ? 0 : 1)).fill(POISON16));
      const d32: TensorView = allocTensor(ctx, [c.n + base], 'f32');
      ctx.fill(d32.buffer, 0x7fc00001);
      await runCalls(ctx, [
        await dequant(ctx, { format: c.format, src, n: c.n, dst: d16, dstBase: base, scale: c.scale, counts, slot: 0 }),
        await dequant(ctx, { format: c.format, src, n: c.n, dst: d32, dstBase: base, scale: c.scale, counts, slot: 1 }),
      ]);
      const got16 = new Uint16Array(await ctx.readback(d16.buffer, (c.n + base + 2) * 2 + 2));
      const got32 = new Uint32Array(await ctx.readback(d32.buffer, (c.n + base) * 4));
      const [bad16, sat16, bad32] = new Uint32Array(await ctx.readback(counts, 16));
      for (let i = 0; i < base; i++) expect(got16[i], `poison before, index ${i}`).toBe(POISON16);
      expect(got16[base + c.n], 'poison after').toBe(POISON16);
      let mism16 = 0, mism32 = 0, nan = 0;
      const firsts: string[] = [];
      for (let i = 0; i < c.n; i++) {
        const g = got16[base + i], w = c.want16[i];
        if (isNan16(w)) nan++;
        if (g !== w) { mism16++; if (firsts.length < 5) firsts.push(`f16[${i}] got ${hex(g)} want ${hex(w)}`); }
        const g32 = got32[base + i], w32 = c.want32[i];
        if (g32 !== w32) { mism32++; if (firsts.length < 5) firsts.push(`f32[${i}] got ${hex(g32)} want ${hex(w32)}`); }
      }
      expect(firsts, `${c.name}`).toEqual([]);
      expect(mism16 + mism32).toBe(0);
      // NaN/inf codes are counted (the loader refuses such weights); nothing else is.
      const nonFinite = Array.from(c.want16).filter((h) => (h & 0x7c00) === 0x7c00).length;
      expect(bad16).toBe(nonFinite);
      expect(bad32).toBe(nonFinite);
      expect(sat16).toBe(0);
      if (c.name === 'codes_e4m3.weight') expect(nan).toBe(2);
      if (c.name === 'codes_e5m2.weight') expect(nonFinite).toBe(8);
    });
  }

  it('saturates finite values beyond the f16 range to +-65504 and counts them', async () => {
    const ctx = await testContext();
    // e4m3fn 0x7e = 448 and 0xfe = -448, times 200 = +-89600 > 65504; 0x38 = 1.0 -> 200 exactly.
    const src = allocTensor(ctx, [1], 'u32');
    ctx.write(src.buffer, new Uint8Array([0x7e, 0xfe, 0x38, 0x00]));
    const counts = ctx.createBuffer(8);
    ctx.fill(counts, 0, 8);
    const dst = allocTensor(ctx, [4], 'f16');
    await runCalls(ctx, [await dequant(ctx, { format: 'F8_E4M3', src, n: 4, dst, dstBase: 0, scale: 200, counts, slot: 0 })]);
    expect(Array.from(new Uint16Array(await ctx.readback(dst.buffer, 8)))).toEqual([0x7bff, 0xfbff, 0x5a40, 0x0000]);
    expect(Array.from(new Uint32Array(await ctx.readback(counts, 8)))).toEqual([0, 2]);
  });

  it('rejects sizes that are not whole blocks and sources too short', async () => {
    const ctx = await testContext();
    const counts = ctx.createBuffer(8);
    const dst = allocTensor(ctx, [64], 'f16');
    await expect(dequant(ctx, { format: 'Q4_K', src: allocTensor(ctx, [64], 'u32'), n: 64, dst, dstBase: 0, counts, slot: 0 })).rejects.toThrow(/not a positive multiple of the Q4_K block size 256/);
    await expect(dequant(ctx, { format: 'Q8_0', src: allocTensor(ctx, [4], 'u32'), n: 32, dst, dstBase: 0, counts, slot: 0 })).rejects.toThrow(/src holds 16 bytes but 32 Q8_0 values need 34/);
  });
});
