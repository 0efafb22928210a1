// Tiled decode geometry and blending, pure host code (no GPU). As diffusers' AutoencoderKL.tiled_decode, the
// latent is cut into overlapping tiles that are decoded independently and blended where they overlap; unlike it,
// every tile has the SAME size (starts spread evenly, the last tile ends exactly at the edge), so one compiled
// decoder plan serves all tiles and GPU memory is that of one tile whatever the image size. Blending is a
// partition of unity: along each axis, across the overlap with a neighbour, a tile's weight is 0 on the quarter
// next to its own edge (where its zero padding distorts it; the neighbour has full weight there), ramps linearly
// from 0 to 1 over the middle half while the neighbour's ramps down, and is 1 beyond, so the weights of the tiles
// covering a pixel sum to 1.

export interface TileGrid {
  /** Tile size in latent pixels (rows, cols); equal to the latent's size on an axis that needs no tiling. */
  tileH: number;
  tileW: number;
  /** Latent start of each tile row / column. */
  rows: number[];
  cols: number[];
}

/** Evenly spread starts of tiles of size `tile` covering [0, n) with at least `overlap` shared between neighbours. */
export function tileStarts(n: number, tile: number, overlap: number): number[] {
  if (!(Number.isInteger(n) && Number.isInteger(tile) && Number.isInteger(overlap)) || n < 1 || tile < 1 || overlap < 0) {
    throw new Error(`tileStarts: bad arguments n=${n} tile=${tile} overlap=${overlap}`);
  }
  if (n <= tile) return [0];
  if (overlap >= tile) throw new Error(`VAE tiling: overlap ${overlap} must be smaller than the tile ${tile}`);
  const count = Math.ceil((n - tile) / (tile - overlap)) + 1;
  const starts: number[] = [];
  for (let i = 0; i < count; i++) starts.push(Math.round((i * (n - tile)) / (count - 1)));
  return starts;
}

export function tileGrid(h: number, w: number, tile: number, overlap: number): TileGrid {
  return { tileH: Math.min(h, tile), tileW: Math.min(w, tile), rows: tileStarts(h, tile, overlap), cols: tileStarts(w, tile, overlap) };
}

/**
 * Blend weight along one axis for output pixels [start*f, (start+size)*f) of a tile whose neighbours start at
 * prevEnd/nextStart (latent units; null at the image edge). Ramps cover exactly the overlap in pixels.
 */
export function axisWeights(start: number, size: number, f: number, prevEnd: number | null, nextStart: number | null, blend = true): Float64Array {
  const n = size * f;
  const w = new Float64Array(n).fill(1);
  const p0 = start * f;
  if (!blend) {
    // Hard cut at the middle of each overlap (tests use it to show what the ramps prevent).
    const from = prevEnd !== null && prevEnd > start ? Math.floor(((start + prevEnd) * f) / 2) - p0 : 0;
    const to = nextStart !== null && nextStart < start + size ? Math.floor(((nextStart + start + size) * f) / 2) - p0 : n;
    for (let i = 0; i < n; i++) w[i] = i >= from && i < to ? 1 : 0;
    return w;
  }
  // Across an overlap of r pixels: the outer quarter next to a tile's own edge gets weight 0 there (that tile's
  // zero padding reaches inward; the neighbour covers it fully), the middle half ramps linearly, the rest is 1.
  const ramp = (j: number, r: number) => {
    const m = Math.floor(r / 4);
    return j < m ? 0 : j >= r - m ? 1 : (j - m + 0.5) / (r - 2 * m);
  };
  if (prevEnd !== null && prevEnd > start) {
    const r = (prevEnd - start) * f; // overlap with the previous tile, in pixels
    for (let i = 0; i < Math.min(r, n); i++) w[i] *= ramp(i, r);
  }
  if (nextStart !== null && nextStart < start + size) {
    const r = (start + size - nextStart) * f;
    const from = nextStart * f - p0;
    for (let i = Math.max(0, from); i < n; i++) w[i] *= ramp(n - 1 - i, r);
  }
  return w;
}

/** Accumulates weighted tiles (channels-last [th, tw, C]) into a [H, W, C] image and normalises at the end. */
export class TileBlender {
  private readonly sum: Float64Array;
  private readonly weight: Float64Array;

  constructor(readonly H: number, readonly W: number, readonly C: number) {
    this.sum = new Float64Array(H * W * C);
    this.weight = new Float64Array(H * W);
  }

  add(tile: ArrayLike<number>, y0: number, x0: number, th: number, tw: number, wy: Float64Array, wx: Float64Array): void {
    const { W, C } = this;
    if (tile.length !== th * tw * C) throw new Error(`TileBlender: tile has ${tile.length} values, expected ${th}x${tw}x${C}`);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const wt = wy[y] * wx[x];
        if (wt === 0) continue;
        const o = (y0 + y) * W + (x0 + x);
        this.weight[o] += wt;
        const ti = (y * tw + x) * C;
        for (let c = 0; c < C; c++) this.sum[o * C + c] += wt * tile[ti + c];
      }
    }
  }

  /** The blended image [H, W, C]; throws if a pixel was never covered (a tiling bug). */
  result(): Float32Array {
    const out = new Float32Array(this.sum.length);
    for (let o = 0; o < this.weight.length; o++) {
      const wt = this.weight[o];
      if (!(wt > 0)) throw new Error(`TileBlender: pixel (${Math.floor(o / this.W)}, ${o % this.W}) not covered by any tile`);
      for (let c = 0; c < this.C; c++) out[o * this.C + c] = this.sum[o * this.C + c] / wt;
    }
    return out;
  }
}
