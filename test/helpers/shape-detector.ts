/**
 * Meaning detector for the small trained model (weights/small-flux): is the named colour at the named 3x3
 * grid position? Pixel statistics only; the twin of bench/train-small/detect.py (keep the two identical):
 *   1. each pixel goes to its nearest palette colour (heldout.json "colours", RGB 0..255) when the Euclidean
 *      RGB distance is below MAX_DIST, else to nothing;
 *   2. per grid cell, the fraction of pixels of the named colour;
 *   3. the prompt is followed when the named cell has the largest fraction and at least MIN_FRACTION.
 * The held-out prompts (colour x shape x position triples never drawn in training) are in heldout.json.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const MAX_DIST = 70;
export const MIN_FRACTION = 0.03;

export const HELDOUT_PATH = fileURLToPath(new URL('../../bench/train-small/heldout.json', import.meta.url));

export interface HeldoutPrompt { colour: string; shape: string; position: string; background: string; prompt: string }
export interface Heldout {
  colours: Record<string, [number, number, number]>;
  positions: string[];
  prompts: HeldoutPrompt[];
}

export function loadHeldout(path: string = HELDOUT_PATH): Heldout {
  const h = JSON.parse(readFileSync(path, 'utf8')) as Heldout;
  if (!h.colours || !Array.isArray(h.positions) || h.positions.length !== 9 || !Array.isArray(h.prompts)) {
    throw new Error(`${path} is not a held-out prompt file (needs colours, 9 positions, prompts); regenerate it with bench/train-small/dataset.py --write-heldout`);
  }
  return h;
}

/** An image as interleaved 8-bit channels (RGB or RGBA), row-major. */
export interface Rgb8Image { data: Uint8Array | Uint8ClampedArray; width: number; height: number; channels: number }

/** The 9 per-cell fractions (row-major, top left first) of pixels classified as `colour`. */
export function cellFractions(img: Rgb8Image, colour: string, palette: Heldout['colours']): number[] {
  const { data, width: w, height: h, channels: ch } = img;
  if (ch < 3 || data.length !== w * h * ch) throw new Error(`image buffer has ${data.length} bytes, expected ${w}x${h}x${ch} with at least 3 channels`);
  const names = Object.keys(palette);
  const target = names.indexOf(colour);
  if (target < 0) throw new Error(`colour "${colour}" is not in the palette (${names.join(', ')})`);
  const pal = names.map((n) => palette[n]);
  const hits = new Array<number>(9).fill(0);
  const area = new Array<number>(9).fill(0);
  // Cell r spans [floor(r*h/3), floor((r+1)*h/3)), exactly as in detect.py.
  const rowOf = (y: number): number => (y < Math.floor(h / 3) ? 0 : y < Math.floor((2 * h) / 3) ? 1 : 2);
  const colOf = (x: number): number => (x < Math.floor(w / 3) ? 0 : x < Math.floor((2 * w) / 3) ? 1 : 2);
  for (let y = 0; y < h; y++) {
    const row = rowOf(y);
    for (let x = 0; x < w; x++) {
      const cell = row * 3 + colOf(x);
      const i = (y * w + x) * ch;
      let best = -1;
      let bestD = Infinity;
      for (let k = 0; k < pal.length; k++) {
        const d = Math.hypot(data[i] - pal[k][0], data[i + 1] - pal[k][1], data[i + 2] - pal[k][2]);
        if (d < bestD) { bestD = d; best = k; }
      }
      area[cell]++;
      if (best === target && bestD < MAX_DIST) hits[cell]++;
    }
  }
  return hits.map((n, c) => n / area[c]);
}

/** Whether the image shows `colour` at `position` (one of heldout.positions), and the per-cell fractions. */
export function follows(img: Rgb8Image, colour: string, position: string, heldout: Heldout): { ok: boolean; fractions: number[] } {
  const p = heldout.positions.indexOf(position);
  if (p < 0) throw new Error(`position "${position}" is not one of: ${heldout.positions.join(', ')}`);
  const fractions = cellFractions(img, colour, heldout.colours);
  const ok = fractions[p] >= MIN_FRACTION && fractions[p] >= Math.max(...fractions);
  return { ok, fractions };
}
