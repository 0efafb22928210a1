/** float64 GroupNorm over NHWC: mean, then centred variance (biased, like torch), affine, optional SiLU. */
export function refGroupNorm(x: Float64Array, B: number, HW: number, C: number, gamma: Float64Array, beta: Float64Array, groups: number, eps: number, silu: boolean): Float64Array {
  const y = new Float64Array(x.length);
  const cpg = C / groups;
  for (let b = 0; b < B; b++) for (let g = 0; g < groups; g++) {
    let s = 0;
    for (let p = 0; p < HW; p++) for (let c = g * cpg; c < (g + 1) * cpg; c++) s += x[(b * HW + p) * C + c];
    const mean = s / (HW * cpg);
    let v = 0;
    for (let p = 0; p < HW; p++) for (let c = g * cpg; c < (g + 1) * cpg; c++) v += (x[(b * HW + p) * C + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / (HW * cpg) + eps);
    for (let p = 0; p < HW; p++) for (let c = g * cpg; c < (g + 1) * cpg; c++) {
      const i = (b * HW + p) * C + c;
      const t = (x[i] - mean) * rstd * gamma[c] + beta[c];
      y[i] = silu ? t / (1 + Math.exp(-t)) : t;
    }
  }
  return y;
}
