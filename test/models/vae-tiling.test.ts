// Tiled-decode geometry and blending (src/models/vae/tiling.ts), without a GPU: tiles are equal-sized and cover
// the latent, neighbours overlap by at least the requested amount, the blend weights form a partition of unity,
// and with a LOCAL "decoder" (nearest upsample: each output pixel depends on one latent pixel) the tiled result
// equals the untiled one exactly. That is the tiling's own contract; what a real decoder's per-tile GroupNorm and
// attention add is measured in vae.test.ts.
import { describe, expect, it } from 'vitest';
import { axisWeights, TileBlender, tileGrid, tileStarts } from '../../src/models/vae/tiling.js';

describe('VAE tiling', () => {
  it('equal tiles, evenly spread, covering [0, n), overlapping by at least the request', () => {
    for (const [n, tile, overlap] of [[128, 64, 16], [129, 64, 16], [200, 64, 16], [17, 8, 3], [9, 8, 1], [8, 8, 2], [5, 8, 2], [100, 10, 9]]) {
      const s = tileStarts(n, tile, overlap);
      const size = Math.min(n, tile);
      expect(s[0]).toBe(0);
      expect(s[s.length - 1] + size).toBe(n);
      for (let i = 1; i < s.length; i++) {
        expect(s[i]).toBeGreaterThan(s[i - 1]);
        expect(s[i - 1] + size - s[i], `n=${n} tile=${tile}: overlap of tiles ${i - 1}, ${i}`).toBeGreaterThanOrEqual(overlap);
      }
      // Not more tiles than needed: one fewer would leave less than the overlap somewhere.
      if (s.length > 1) expect((s.length - 2) * (tile - overlap) + tile).toBeLessThan(n);
    }
    expect(() => tileStarts(20, 8, 8)).toThrow(/overlap 8 must be smaller than the tile 8/);
  });

  function decodeTiled(lat: Float64Array, h: number, w: number, C: number, f: number, tile: number, overlap: number, blend = true) {
    const g = tileGrid(h, w, tile, overlap);
    const b = new TileBlender(h * f, w * f, C);
    for (let ri = 0; ri < g.rows.length; ri++) {
      const y0 = g.rows[ri];
      const wy = axisWeights(y0, g.tileH, f, ri > 0 ? g.rows[ri - 1] + g.tileH : null, ri + 1 < g.rows.length ? g.rows[ri + 1] : null, blend);
      for (let ci = 0; ci < g.cols.length; ci++) {
        const x0 = g.cols[ci];
        const wx = axisWeights(x0, g.tileW, f, ci > 0 ? g.cols[ci - 1] + g.tileW : null, ci + 1 < g.cols.length ? g.cols[ci + 1] : null, blend);
        const out = new Float64Array(g.tileH * f * g.tileW * f * C);
        for (let y = 0; y < g.tileH * f; y++) for (let x = 0; x < g.tileW * f; x++) for (let c = 0; c < C; c++) {
          out[(y * g.tileW * f + x) * C + c] = lat[((y0 + Math.floor(y / f)) * w + x0 + Math.floor(x / f)) * C + c];
        }
        b.add(out, y0 * f, x0 * f, g.tileH * f, g.tileW * f, wy, wx);
      }
    }
    return b.result();
  }

  it('a local decoder gives exactly the untiled image (ramps and hard cuts)', () => {
    const h = 23, w = 37, C = 3, f = 4;
    const lat = new Float64Array(h * w * C).map((_, i) => Math.sin(i * 0.731) + (i % 7));
    for (const blend of [true, false]) {
      for (const [tile, overlap] of [[8, 2], [10, 4], [16, 5], [64, 8]]) {
        const got = decodeTiled(lat, h, w, C, f, tile, overlap, blend);
        let worst = 0;
        for (let y = 0; y < h * f; y++) for (let x = 0; x < w * f; x++) for (let c = 0; c < C; c++) {
          worst = Math.max(worst, Math.abs(got[(y * w * f + x) * C + c] - lat[((Math.floor(y / f)) * w + Math.floor(x / f)) * C + c]));
        }
        expect(worst, `tile ${tile} overlap ${overlap} blend ${blend}`).toBeLessThan(1e-5);
      }
    }
  });

  it('ramp weights are a partition of unity across every overlap', () => {
    for (const [n, tile, overlap, f] of [[50, 16, 4, 8], [37, 10, 3, 2], [129, 64, 16, 8]]) {
      const s = tileStarts(n, tile, overlap);
      const sum = new Float64Array(n * f);
      s.forEach((x0, i) => {
        const wts = axisWeights(x0, tile, f, i > 0 ? s[i - 1] + tile : null, i + 1 < s.length ? s[i + 1] : null);
        wts.forEach((v, j) => (sum[x0 * f + j] += v));
        // Zero weight only on the quarter of an overlap next to the tile's own inner edge.
        const r0 = i > 0 ? (s[i - 1] + tile - x0) * f : 0;
        const r1 = i + 1 < s.length ? (x0 + tile - s[i + 1]) * f : 0;
        wts.forEach((v, j) => expect(v > 0, `tile ${i} pixel ${j}`).toBe(j >= Math.floor(r0 / 4) && j < tile * f - Math.floor(r1 / 4)));
      });
      for (const v of sum) expect(v).toBeCloseTo(1, 12);
    }
  });

  it('an uncovered pixel is an error, not a silent zero', () => {
    const b = new TileBlender(4, 4, 1);
    b.add(new Float64Array(4), 0, 0, 2, 2, new Float64Array([1, 1]), new Float64Array([1, 1]));
    expect(() => b.result()).toThrow(/pixel \(0, 2\) not covered/);
  });
});
