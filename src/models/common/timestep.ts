// Sinusoidal timestep embeddings, computed on the host in float64 once per denoising step ([B, 256] numbers:
// far cheaper to upload than to launch a kernel for, and exact). Both FLUX and SD3 use the "cos first" form:
//   FLUX (flux/modules/layers.py timestep_embedding): t' = time_factor * t (time_factor 1000),
//        freqs_i = exp(-ln(max_period) * i / half), emb = [cos(t' freqs), sin(t' freqs)]
//   SD3 (diffusers Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)) gives the same formula on the
//        timestep the pipeline passes (sigma * 1000).
export function sinusoidalEmbedding(t: readonly number[], dim: number, opts: { timeFactor?: number; maxPeriod?: number } = {}): Float32Array {
  const timeFactor = opts.timeFactor ?? 1;
  const maxPeriod = opts.maxPeriod ?? 10000;
  const half = Math.floor(dim / 2);
  const out = new Float32Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    const tt = t[b] * timeFactor;
    for (let i = 0; i < half; i++) {
      const arg = tt * Math.exp((-Math.log(maxPeriod) * i) / half);
      out[b * dim + i] = Math.cos(arg);
      out[b * dim + half + i] = Math.sin(arg);
    }
    // Odd dims get a zero pad column, as both references do.
  }
  return out;
}
