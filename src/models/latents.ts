// Latent image <-> transformer token layouts. Both models cut the [C, H, W] latent into P x P patches
// (P = 2), token (i, j) holding patch rows 2i..2i+1, cols 2j..2j+1:
//   FLUX packs and unpacks features in (c, ph, pw) order (pipeline _pack_latents / _unpack_latents);
//   SD3's input conv reads (c, kh, kw) too, but proj_out emits (ph, pw, c) (transformer_sd3.py unpatchify).
export type PatchOrder = 'c-p-q' | 'p-q-c';

/** [C, H, W] (one image) -> [(H/P)*(W/P), C*P*P] tokens. */
export function patchify(latent: ArrayLike<number>, C: number, H: number, W: number, P = 2, order: PatchOrder = 'c-p-q'): Float32Array {
  if (H % P || W % P) throw new Error(`latent ${H}x${W} is not divisible by the patch size ${P}`);
  if (latent.length !== C * H * W) throw new Error(`latent has ${latent.length} values, expected ${C}x${H}x${W}`);
  const h = H / P, w = W / P, F = C * P * P;
  const out = new Float32Array(h * w * F);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let c = 0; c < C; c++)
        for (let p = 0; p < P; p++)
          for (let q = 0; q < P; q++) {
            const f = order === 'c-p-q' ? (c * P + p) * P + q : (p * P + q) * C + c;
            out[(i * w + j) * F + f] = latent[(c * H + i * P + p) * W + j * P + q];
          }
  return out;
}

/** Inverse of patchify. */
export function unpatchify(tokens: ArrayLike<number>, C: number, H: number, W: number, P = 2, order: PatchOrder = 'c-p-q'): Float32Array {
  const h = H / P, w = W / P, F = C * P * P;
  if (tokens.length !== h * w * F) throw new Error(`tokens have ${tokens.length} values, expected ${h * w}x${F}`);
  const out = new Float32Array(C * H * W);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let c = 0; c < C; c++)
        for (let p = 0; p < P; p++)
          for (let q = 0; q < P; q++) {
            const f = order === 'c-p-q' ? (c * P + p) * P + q : (p * P + q) * C + c;
            out[(c * H + i * P + p) * W + j * P + q] = tokens[(i * w + j) * F + f];
          }
  return out;
}
