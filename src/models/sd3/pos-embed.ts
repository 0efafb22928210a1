// SD3's fixed 2-D sin-cos position embedding, cropped to the image's patch grid, computed on the host in float64.
// diffusers PatchEmbed (embeddings.py): a table for a pos_embed_max_size^2 grid built by get_2d_sincos_pos_embed
// with base_size = sample_size / patch (64 for SD3-medium) and grid coordinates arange(n) / (n / base_size); the
// centre crop of the image's h x w patch grid is added to the patch tokens. Quirk kept on purpose: diffusers'
// meshgrid puts the *column* coordinate in the first half of the channels and the row coordinate in the second.
// Each half is [sin(pos * omega), cos(pos * omega)] with omega_k = 10000^(-k / (D/4)).
export function sd3PosEmbed(D: number, gridH: number, gridW: number, maxSize: number, baseSize: number): Float32Array {
  if (D % 4 !== 0) throw new Error(`SD3 position embedding needs hidden size divisible by 4 (got ${D})`);
  if (gridH > maxSize || gridW > maxSize) {
    throw new Error(`SD3: image of ${gridH}x${gridW} patches exceeds the model's position table (${maxSize}x${maxSize} patches); use a smaller resolution`);
  }
  const top = Math.floor((maxSize - gridH) / 2);
  const left = Math.floor((maxSize - gridW) / 2);
  const q = D / 4;
  const scale = maxSize / baseSize;
  const out = new Float32Array(gridH * gridW * D);
  for (let i = 0; i < gridH; i++) {
    for (let j = 0; j < gridW; j++) {
      const o = (i * gridW + j) * D;
      const wpos = (left + j) / scale;
      const hpos = (top + i) / scale;
      for (let k = 0; k < q; k++) {
        const omega = 1 / 10000 ** (k / q);
        out[o + k] = Math.sin(wpos * omega);
        out[o + q + k] = Math.cos(wpos * omega);
        out[o + 2 * q + k] = Math.sin(hpos * omega);
        out[o + 3 * q + k] = Math.cos(hpos * omega);
      }
    }
  }
  return out;
}
