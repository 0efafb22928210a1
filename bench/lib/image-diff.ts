// Image-level difference between two 8-bit RGB images of the same size (the quality benches of the optional int8
// linears and the first-block cache): mean and max absolute difference in 0..255 units, and PSNR (Infinity when equal).
export interface ImageDiff {
  mae255: number;
  maxAbs255: number;
  psnr: number;
}

export function imageDiff(a: Uint8Array, b: Uint8Array): ImageDiff {
  if (a.length !== b.length) throw new Error(`imageDiff: images of ${a.length} and ${b.length} values`);
  let abs = 0;
  let sq = 0;
  let mx = 0;
  for (let k = 0; k < a.length; k++) {
    const d = Math.abs(a[k] - b[k]);
    abs += d;
    sq += d * d;
    mx = Math.max(mx, d);
  }
  const mse = sq / a.length;
  return { mae255: abs / a.length, maxAbs255: mx, psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse) };
}
