// Graph wrapper for kernels-wgsl/abs-diff-sums.ts: the partial sums behind a relative L1 distance (the first-block
// cache's change statistic), so a step reads back [G, 2] floats instead of the tensors.
import * as k from '../../kernels-wgsl/abs-diff-sums.js';
import { expectDtype, fail, type Graph, type OpOptions, type Tensor } from './common.js';

/** [G, 2] f32: per workgroup (Σ|a - b|, Σ|b|); absDiffRatio() of the read-back values is Σ|a - b| / Σ|b|. */
export function absDiffSums(g: Graph, a: Tensor, b: Tensor, opts: OpOptions = {}): Tensor {
  const label = g.nextLabel('abs_diff_sums', opts.name);
  expectDtype(label, 'a', a, ['f16', 'f32']);
  expectDtype(label, 'b', b, ['f16', 'f32']);
  if (a.numel !== b.numel) fail(label, `${a.describe()} and ${b.describe()} must hold the same number of elements`);
  const [out] = g.op({
    kind: 'abs_diff_sums',
    name: opts.name ?? 'abs_diff_sums',
    inputs: [a, b],
    outputs: [{ shape: [k.absDiffGroups(a.numel), 2], dtype: 'f32', name: opts.name }],
    exec: { type: 'kernel', launch: (ctx, v) => k.absDiffSums(ctx, { a: v(a), b: v(b), out: v(out), label }) },
    sharedBufferOk: true, // the kernel binds an input read_write when it shares the output's buffer
  });
  return out;
}
