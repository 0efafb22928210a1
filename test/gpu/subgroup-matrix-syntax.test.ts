// The subgroup-matrix load/store spelling (src/gpu/subgroup-matrix-syntax.ts). Everywhere: Dawn's Null backend
// offers 'chromium-experimental-subgroup-matrix' without hardware, so Tint's verdict on each spelling (no message
// for the current one, "use of deprecated builtin" for the old) is checked on any machine, lavapipe CI included.
// On a tensor-core GPU (H200): both spellings compute the same 16x16x16 product as a float64 reference, with
// row- and column-major operands, so the majorness mapping (old `true` == col_major) is proven on hardware.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { compilerMessages, openNullSubgroupMatrixDevice, type NullDevice } from '../helpers/null-device.js';
import {
  DEFAULT_SUBGROUP_MATRIX_SYNTAX, probeSubgroupMatrixSyntax, sgLoad, sgStore, type SubgroupMatrixSyntax, syntaxProbeWgsl,
} from '../../src/gpu/subgroup-matrix-syntax.js';
import { f32ToF16Bits } from '../../src/util/f16.js';

describe('spelling', () => {
  it('puts the majorness in the template (current) or in a bool argument (deprecated)', () => {
    const L = 'subgroup_matrix_left<f16, 16, 16>';
    expect(sgLoad(L, '&A', 'o', false, 's', 'majorness-template')).toBe(`subgroupMatrixLoad<${L}, row_major>(&A, o, s)`);
    expect(sgLoad(L, '&A', 'o', true, 's', 'majorness-template')).toBe(`subgroupMatrixLoad<${L}, col_major>(&A, o, s)`);
    expect(sgLoad(L, '&A', 'o', true, 's', 'bool-argument')).toBe(`subgroupMatrixLoad<${L}>(&A, o, true, s)`);
    expect(sgStore('&C', 'o', 'v', false, 's', 'majorness-template')).toBe('subgroupMatrixStore<row_major>(&C, o, v, s)');
    expect(sgStore('&C', 'o', 'v', true, 's', 'bool-argument')).toBe('subgroupMatrixStore(&C, o, v, true, s)');
    expect(sgLoad(L, '&A', 'o', false, 's')).toBe(sgLoad(L, '&A', 'o', false, 's', DEFAULT_SUBGROUP_MATRIX_SYNTAX));
    expect(DEFAULT_SUBGROUP_MATRIX_SYNTAX).toBe('majorness-template');
  });
});

describe("Tint's verdict (Dawn Null backend, no hardware needed)", () => {
  let nul: NullDevice;
  beforeAll(async () => {
    nul = await openNullSubgroupMatrixDevice();
  });
  afterAll(() => nul?.device.destroy());

  const messages = async (code: string) => [...(await compilerMessages(nul.device, code))].map((m) => `${m.lineNum}: ${m.type}: ${m.message}`);

  it('the current spelling compiles with no message at all', async () => {
    expect(await messages(syntaxProbeWgsl('majorness-template'))).toEqual([]);
  });

  it('the old spelling is what warns "use of deprecated builtin" (once per load and store)', async () => {
    const m = await messages(syntaxProbeWgsl('bool-argument'));
    expect(m).toHaveLength(3);
    for (const x of m) expect(x).toMatch(/warning: use of deprecated builtin/);
  });

  it('the probe picks the current spelling on this Dawn', async () => {
    expect(await probeSubgroupMatrixSyntax(nul.device)).toBe('majorness-template');
  });
});

describe('on a tensor-core GPU', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await GpuContext.open();
  });
  afterAll(() => ctx?.destroy());

  it('the device was asked and answered (default spelling where it has no subgroup matrices)', () => {
    if (!ctx.caps.tensorCores) expect(ctx.caps.subgroupMatrixSyntax).toBe(DEFAULT_SUBGROUP_MATRIX_SYNTAX);
    else expect(ctx.caps.subgroupMatrixSyntax).toBe('majorness-template');
  });

  // C[16x16] = A[16x16] * B, A row-major; B given as [N, K] (loaded col_major) or [K, N] (row_major); C stored
  // row-major or col-major. One subgroup (workgroup = subgroup size) does the whole product.
  for (const syntax of ['majorness-template', 'bool-argument'] as SubgroupMatrixSyntax[]) {
    for (const [bCol, cCol] of [[true, false], [false, true]]) {
      it(`${syntax}: B ${bCol ? 'col' : 'row'}-major, C ${cCol ? 'col' : 'row'}-major matches float64`, async (t) => {
        if (!ctx.caps.tensorCores) t.skip(); // lavapipe: no subgroup matrices (the Null-backend checks above run)
        const sg = ctx.caps.subgroupMaxSize;
        const code = `enable f16;
enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read> A: array<f16>;
@group(0) @binding(1) var<storage, read> B: array<f16>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(${sg})
fn main() {
  let a = ${sgLoad('subgroup_matrix_left<f16, 16, 16>', '&A', '0u', false, '16u', syntax)};
  let b = ${sgLoad('subgroup_matrix_right<f16, 16, 16>', '&B', '0u', bCol, '16u', syntax)};
  let c = subgroupMatrixMultiplyAccumulate(a, b, subgroup_matrix_result<f32, 16, 16>());
  ${sgStore('&C', '0u', 'c', cCol, '16u', syntax)};
}
`;
        const rnd = () => Math.round((Math.random() * 2 - 1) * 64) / 64; // exact in f16, so float64 is the reference
        const a = Float64Array.from({ length: 256 }, rnd);
        const b = Float64Array.from({ length: 256 }, rnd); // b[k*16 + n] = B(k, n)
        const bStored = new Float64Array(256);
        for (let k = 0; k < 16; k++) for (let n = 0; n < 16; n++) bStored[bCol ? n * 16 + k : k * 16 + n] = b[k * 16 + n];
        const h = (x: Float64Array) => Uint16Array.from(x, (v) => f32ToF16Bits(v));
        const A = ctx.upload(h(a));
        const B = ctx.upload(h(bStored));
        const C = ctx.createBuffer(1024);
        ctx.fill(C, 0x7fc00000); // NaN: every element must be written
        const pipe = await ctx.pipeline(`sg-syntax-${syntax}-${bCol}-${cCol}`, code);
        const bind = ctx.device.createBindGroup({
          layout: pipe.getBindGroupLayout(0),
          entries: [A, B, C].map((buffer, binding) => ({ binding, resource: { buffer } })),
        });
        const enc = ctx.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipe);
        pass.setBindGroup(0, bind);
        pass.dispatchWorkgroups(1);
        pass.end();
        ctx.device.queue.submit([enc.finish()]);
        const got = new Float32Array(await ctx.readback(C, 1024));
        for (let m = 0; m < 16; m++) {
          for (let n = 0; n < 16; n++) {
            let ref = 0;
            for (let k = 0; k < 16; k++) ref += a[m * 16 + k] * b[k * 16 + n];
            // Products of 1/64-grid values and their 16-term sums are exact in f32.
            // (abs of the difference: a zero sum may come back as -0, which toBe would tell from 0; NaN still fails)
            expect(Math.abs(got[cCol ? n * 16 + m : m * 16 + n] - ref), `C(${m}, ${n}) = ${got[cCol ? n * 16 + m : m * 16 + n]}, want ${ref}`).toBe(0);
          }
        }
      });
    }
  }
});
