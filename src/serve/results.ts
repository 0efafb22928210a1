// Finished images on disk with a retention limit (count and age): the oldest files go first. The directory is
// the server's own; files are named <job id>.<format>, so a restarted server can still serve what it kept.
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from './engine.js';
import type { OutputFormat } from './jobs.js';

export interface RetentionOptions {
  /** Keep at most this many images (default 1000). */
  maxFiles: number;
  /** Delete images older than this many seconds (default 24 h). */
  maxAgeSeconds: number;
}

export const MIME: Record<OutputFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

export async function encodeImage(img: RgbImage, format: OutputFormat): Promise<Buffer> {
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } });
  return format === 'png' ? s.png().toBuffer() : format === 'jpeg' ? s.jpeg({ quality: 90 }).toBuffer() : s.webp({ quality: 90 }).toBuffer();
}

export class ResultStore {
  private pruning: Promise<void> | null = null;

  constructor(readonly dir: string, readonly retention: RetentionOptions) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.prune();
  }

  pathOf(id: string, format: OutputFormat): string {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`bad result id "${id}"`);
    return join(this.dir, `${id}.${format}`);
  }

  async save(id: string, format: OutputFormat, img: RgbImage): Promise<string> {
    const path = this.pathOf(id, format);
    await writeFile(path, await encodeImage(img, format));
    void this.prune();
    return path;
  }

  /** Applies the retention limits; concurrent calls share one pass. */
  prune(): Promise<void> {
    this.pruning ??= this.pruneOnce().finally(() => (this.pruning = null));
    return this.pruning;
  }

  private async pruneOnce(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => /\.(png|jpeg|webp)$/.test(n));
    const files = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(this.dir, n)).catch(() => null))?.mtimeMs ?? 0 })));
    files.sort((a, b) => b.t - a.t);
    const cutoff = Date.now() - this.retention.maxAgeSeconds * 1000;
    const doomed = files.filter((f, i) => i >= this.retention.maxFiles || f.t < cutoff);
    await Promise.all(doomed.map((f) => rm(join(this.dir, f.n), { force: true })));
  }
}
