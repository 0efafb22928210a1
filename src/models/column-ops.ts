// Column concatenation [R, C1] ++ [R, C2] -> [R, C1 + C2] as a graph op over the strided-copy kernel.
// FLUX's single-stream block feeds linear2 with [attention output | GELU(MLP)] side by side.
import { Graph } from '../graph/graph.js';
import type { Tensor } from '../graph/tensor.js';
import { copyStrided } from '../kernels-wgsl/layout.js';

export function concatColumns(g: Graph, parts: Tensor[], name = 'concat_columns'): Tensor {
  const label = g.nextLabel('concat_columns', name);
  g.check(parts.length >= 1, label, () => 'needs at least one tensor');
  const R = parts[0].rows;
  const dtype = parts[0].dtype;
  for (const p of parts) {
    g.check(p.rows === R && p.dtype === dtype, label, () => `all parts must have ${R} rows and dtype ${dtype}; got ${p.describe()}`);
  }
  const C = parts.reduce((s, p) => s + p.last, 0);
  const [out] = g.op({
    kind: 'concat_columns',
    name,
    inputs: parts,
    outputs: [{ shape: [R, C], dtype, name }],
    exec: {
      type: 'kernel',
      launch: async (ctx, view) => {
        let at = 0;
        const calls = [];
        for (const p of parts) {
          calls.push(
            await copyStrided(ctx, {
              src: view(p), dst: view(out), shape: [R, p.last], srcStrides: [p.last, 1], dstStrides: [C, 1],
              srcOffsetElems: 0, dstOffsetElems: at,
            }),
          );
          at += p.last;
        }
        return calls;
      },
    },
  });
  return out;
}
