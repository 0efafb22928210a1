// The kernel benchmarks' correctness check of out = x w^T (f16 [M, K] x [N, K] -> f16 [M, N]): 12 x 12 sampled
// outputs (rows spread over M with the last one included, columns spread over N with an offset) against float64
// dot products of the same f16 inputs. Shared by bench/matmul-tune.ts and bench/int8-gemm.ts.
import type { GpuContext } from '../../src/gpu/context.js';
import type { TensorView } from '../../src/gpu/kernel.js';
import { fromF16Array } from '../../src/util/f16.js';

/** Row `row` of an f16 [rows, len] tensor. */
export async function readF16Row(ctx: GpuContext, t: TensorView, row: number, len: number): Promise<Float32Array> {
  const raw = await ctx.readback(t.buffer, len * 2, t.offset + row * len * 2);
  return fromF16Array(new Uint16Array(raw));
}

export class SampledLinearCheck {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly K: number,
    private readonly N: number,
    private readonly rows: number[],
    private readonly cols: number[],
    private readonly xRows: Float32Array[],
    private readonly wRows: Float32Array[],
  ) {}

  /** Reads the sampled rows of x [M, K] and w [N, K] once. */
  static async create(ctx: GpuContext, x: TensorView, w: TensorView, M: number, K: number, N: number): Promise<SampledLinearCheck> {
    const rows = Array.from({ length: 12 }, (_, i) => (i === 11 ? M - 1 : Math.floor((i * M) / 11)));
    const cols = Array.from({ length: 12 }, (_, i) => (i === 11 ? N - 1 : Math.floor((i * N) / 11 + 7) % N));
    const xRows = await Promise.all(rows.map((r) => readF16Row(ctx, x, r, K)));
    const wRows = await Promise.all(cols.map((n) => readF16Row(ctx, w, n, K)));
    return new SampledLinearCheck(ctx, K, N, rows, cols, xRows, wRows);
  }

  /** Relative L2 error of the sampled outputs of `out` [M, N] (a non-finite output counts as Infinity). */
  async relErr(out: TensorView): Promise<number> {
    let num = 0;
    let den = 0;
    for (let i = 0; i < this.rows.length; i++) {
      const o = await readF16Row(this.ctx, out, this.rows[i], this.N);
      this.cols.forEach((n, j) => {
        let acc = 0;
        for (let k = 0; k < this.K; k++) acc += this.xRows[i][k] * this.wRows[j][k];
        const d = o[n] - acc;
        num += Number.isFinite(d) ? d * d : Infinity;
        den += acc * acc;
      });
    }
    return Math.sqrt(num / den);
  }
}
