// Float64 softmax attention over fused QKV rows laid out (3, H, D) per token: out[i] = softmax(q_i K^T / sqrt(D)) V.

export function attentionFromQkvRef(qkv: ArrayLike<number>, L: number, H: number, D: number): Float64Array {
  const C = H * D;
  const out = new Float64Array(L * C);
  const at = (l: number, which: number, h: number, d: number) => qkv[l * 3 * C + which * C + h * D + d];
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < L; i++) {
      const s = Array.from({ length: L }, (_, j) => {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += at(i, 0, h, d) * at(j, 1, h, d);
        return acc / Math.sqrt(D);
      });
      const mx = Math.max(...s);
      const e = s.map((x) => Math.exp(x - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) out[i * C + h * D + d] = e.reduce((acc, ej, j) => acc + (ej / z) * at(j, 2, h, d), 0);
    }
  }
  return out;
}
