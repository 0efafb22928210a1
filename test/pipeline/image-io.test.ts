// Image files: PNG text metadata round trip (through sharp's own PNG and an independent reader: Python's
// zlib.crc32 values below), WebP/JPEG through sharp, clear errors for non-images.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeImage, formatOf, readImage, toRgb8, writeImage, type FloatImage } from '../../src/pipeline/image-io.js';
import { crc32, insertPngText, readPngText } from '../../src/pipeline/png-text.js';

const dir = mkdtempSync(join(tmpdir(), 'dit-img-'));

function gradient(W: number, H: number): FloatImage {
  const data = new Float32Array(3 * W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    data[y * W + x] = x / (W - 1);
    data[W * H + y * W + x] = y / (H - 1);
    data[2 * W * H + y * W + x] = 0.25;
  }
  return { width: W, height: H, data };
}

describe('png text chunks', () => {
  it('CRC-32 matches zlib', () => {
    // python3 -c "import zlib; print(zlib.crc32(b'123456789'), zlib.crc32(b'IEND'))"
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(3421780262);
    expect(crc32(new TextEncoder().encode('IEND'))).toBe(2923585666);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('round-trips Latin-1 (tEXt) and UTF-8 (iTXt) values through a PNG sharp can still decode', async () => {
    const img = gradient(19, 11);
    const meta = { prompt: 'a red circle, top left — 東京 🙂', seed: '42', settings: '{"steps":4}', Software: 'tetriserve-ts' };
    const png = await encodeImage(img, 'png', meta);
    expect(readPngText(png)).toEqual(meta);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([19, 11, 3]);
    expect(new Uint8Array(data)).toEqual(toRgb8(img));
    const bad = png.slice();
    bad[40] ^= 1; // inside the first text chunk
    expect(() => readPngText(bad)).toThrow(/CRC mismatch/);
    expect(() => insertPngText(new Uint8Array(40), {})).toThrow(/not a PNG/);
    expect(() => insertPngText(png, { ' bad key': 'x' })).toThrow(/keyword/);
  });
});

describe('image files', () => {
  it('quantises as diffusers (round(x * 255)) and clamps', () => {
    const b = toRgb8({ width: 1, height: 1, data: Float32Array.from([0.5, 1.2, -0.1]) });
    expect(Array.from(b)).toEqual([128, 255, 0]);
  });

  it('writes PNG/WebP/JPEG by extension and reads them back (resized)', async () => {
    const img = gradient(32, 24);
    for (const ext of ['png', 'webp', 'jpg']) {
      const p = join(dir, `g.${ext}`);
      await writeImage(p, img, { prompt: 'x' });
      const back = await readImage(p);
      expect([back.width, back.height]).toEqual([32, 24]);
      let err = 0;
      for (let i = 0; i < back.data.length; i++) err = Math.max(err, Math.abs(back.data[i] - img.data[i]));
      expect(err).toBeLessThan(ext === 'png' ? 1 / 255 : 0.12);
      const small = await readImage(p, { width: 16, height: 16 });
      expect([small.width, small.height]).toEqual([16, 16]);
    }
    expect(() => formatOf('out.bmp')).toThrow(/\.png, \.webp/);
  });

  it('a non-image gives a clear error', async () => {
    const p = join(dir, 'notes.png');
    writeFileSync(p, 'this is text');
    await expect(readImage(p)).rejects.toThrow(/not an image/);
    await expect(readImage(join(dir, 'missing.png'))).rejects.toThrow(/ENOENT/);
  });
});
