// Image files in and out through sharp (libvips): PNG, WebP and JPEG. Generation settings go into the PNG's text
// chunks (png-text.ts) and, for WebP/JPEG, into EXIF ImageDescription as JSON.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import sharp from 'sharp';
import { insertPngText } from './png-text.js';

export type ImageFormat = 'png' | 'webp' | 'jpeg';

/** An RGB image as planar floats in [0, 1]: [3, height, width] (the VAE's layout after denormalising). */
export interface FloatImage {
  width: number;
  height: number;
  data: Float32Array;
}

export function formatOf(path: string): ImageFormat {
  const e = extname(path).toLowerCase();
  if (e === '.png') return 'png';
  if (e === '.webp') return 'webp';
  if (e === '.jpg' || e === '.jpeg') return 'jpeg';
  throw new Error(`${path}: unknown image format '${e || '(none)'}'; use a .png, .webp, .jpg or .jpeg file name`);
}

/** VAE output [3, H, W] in [-1, 1] -> [0, 1], clamped (diffusers VaeImageProcessor.denormalize). */
export function denormalize(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(1, Math.max(0, x[i] / 2 + 0.5));
  return out;
}

/** Planar [3, H, W] floats in [0, 1] -> interleaved RGB bytes, rounded as diffusers' numpy_to_pil. */
export function toRgb8(img: FloatImage): Uint8Array {
  const { width: W, height: H, data } = img;
  if (data.length !== 3 * W * H) throw new Error(`image data has ${data.length} values, expected 3x${H}x${W}`);
  const out = new Uint8Array(W * H * 3);
  const plane = W * H;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = data[c * plane + i];
      out[i * 3 + c] = Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0;
    }
  }
  return out;
}

/** Encodes an image; `meta` goes into PNG text chunks (keys as given) or EXIF ImageDescription (JSON). */
export async function encodeImage(img: FloatImage, format: ImageFormat, meta: Record<string, string> = {}): Promise<Uint8Array> {
  let s = sharp(toRgb8(img), { raw: { width: img.width, height: img.height, channels: 3 } });
  if (format === 'png') {
    const png = await s.png({ compressionLevel: 6 }).toBuffer();
    return insertPngText(new Uint8Array(png.buffer, png.byteOffset, png.byteLength), meta);
  }
  if (Object.keys(meta).length) s = s.withExif({ IFD0: { ImageDescription: JSON.stringify(meta) } });
  const buf = format === 'webp' ? await s.webp({ quality: 92 }).toBuffer() : await s.jpeg({ quality: 92 }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export async function writeImage(path: string, img: FloatImage, meta: Record<string, string> = {}): Promise<void> {
  const bytes = await encodeImage(img, formatOf(path), meta);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

/**
 * Reads any image sharp can decode, resized (centre crop to fill) to width x height when given, as planar
 * floats in [0, 1]. Throws a clear error for files that are not images.
 */
export async function readImage(path: string, size?: { width: number; height: number }): Promise<FloatImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let s = sharp(bytes, { failOn: 'error' });
  try {
    await s.metadata();
  } catch {
    throw new Error(`${path}: not an image sharp can read (use a PNG, JPEG or WebP file)`);
  }
  s = s.removeAlpha().toColourspace('srgb');
  if (size) s = s.resize(size.width, size.height, { fit: 'cover' });
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  const W = info.width, H = info.height, ch = info.channels;
  const plane = W * H;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = data[i * ch + Math.min(c, ch - 1)] / 255;
  return { width: W, height: H, data: out };
}
