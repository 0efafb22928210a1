// The streaming safetensors reader and writer: every header corruption gets its own test with the expected
// error text (each names the file, and the tensor where there is one), round trips of every dtype with odd
// shapes, chunked reads of tensors larger than the chunk.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_BYTES, type SafetensorsDType } from '../../src/loading/dtypes.js';
import { CheckpointError, SafetensorsFile } from '../../src/loading/safetensors.js';
import { SafetensorsWriter, encodeHeader, writeSafetensors } from '../../src/loading/safetensors-writer.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'st-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = (name = 'f') => join(dir, `${name}-${n++}.safetensors`);

/** A raw file: 8-byte length (default: the JSON's length) + JSON text + data bytes. */
async function rawFile(header: unknown, data = 0, lengthOverride?: bigint): Promise<string> {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const p = fresh('raw');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  await writeFile(p, Buffer.concat([len, json, Buffer.alloc(data)]));
  return p;
}

async function openError(p: string): Promise<CheckpointError> {
  try {
    await SafetensorsFile.open(p);
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as Error).message).toContain(p);
    return e as CheckpointError;
  }
  throw new Error(`expected ${p} to be rejected`);
}

describe('safetensors header validation', () => {
  it('rejects a file too short to hold the length prefix', async () => {
    const p = fresh('short');
    await writeFile(p, Buffer.from([1, 2, 3]));
    expect((await openError(p)).message).toMatch(/truncated file: 3 bytes is too short/);
  });

  it('rejects a header length above the limit', async () => {
    const p = await rawFile('{}', 0, 200n * 1024n * 1024n);
    expect((await openError(p)).message).toMatch(/corrupt header: header length 209715200 bytes exceeds the 104857600-byte limit/);
  });

  it('rejects a header length larger than the file', async () => {
    const p = await rawFile('{}', 0, 5000n);
    expect((await openError(p)).message).toMatch(/truncated file or corrupt header: the header claims 5000 bytes but the file has only 2/);
  });

  it('rejects a header that is not JSON', async () => {
    const p = await rawFile('{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]');
    expect((await openError(p)).message).toMatch(/corrupt header: the \d+-byte header is not valid UTF-8 JSON/);
  });

  it('rejects a header that is JSON but not an object', async () => {
    const p = await rawFile('[1, 2, 3]');
    expect((await openError(p)).message).toMatch(/corrupt header: the header JSON is not an object of tensors/);
  });

  it('rejects an unknown dtype, naming the tensor', async () => {
    const p = await rawFile({ w: { dtype: 'F7', shape: [2], data_offsets: [0, 4] } }, 4);
    const e = await openError(p);
    expect(e.message).toMatch(/bad dtype: tensor 'w' has dtype "F7"; known dtypes are BF16, F16, F32/);
    expect(e.tensor).toBe('w');
  });

  it('rejects a bad shape', async () => {
    const p = await rawFile({ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 4] } }, 4);
    expect((await openError(p)).message).toMatch(/corrupt header: tensor 'w' has shape \[2,-1\]; expected an array of non-negative integers/);
  });

  it('rejects data_offsets with begin > end', async () => {
    const p = await rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 8);
    expect((await openError(p)).message).toMatch(/corrupt header: tensor 'w' has data_offsets \[8,4\]/);
  });

  it('rejects a tensor whose byte span does not match numel * itemsize', async () => {
    const p = await rawFile({ w: { dtype: 'BF16', shape: [3, 5], data_offsets: [0, 32] } }, 32);
    expect((await openError(p)).message).toMatch(/mis-shaped tensor: 'w' is BF16 \[3,5\] \(30 bytes\) but its data_offsets \[0, 32\] span 32 bytes/);
  });

  it('rejects a truncated file, naming the tensor that runs past the end', async () => {
    const p = fresh('trunc');
    await writeSafetensors(p, [
      { name: 'a', dtype: 'F32', shape: [4], data: new Uint8Array(16) },
      { name: 'b', dtype: 'F32', shape: [100], data: new Uint8Array(400) },
    ]);
    await SafetensorsFile.open(p).then((f) => f.close()); // intact file opens
    const { size } = await stat(p);
    await truncate(p, size - 10);
    const e = await openError(p);
    expect(e.message).toMatch(/truncated file: tensor 'b' ends at data byte 416 but the data section has only 406 bytes/);
    expect(e.tensor).toBe('b');
  });

  it('rejects overlapping tensors, naming both', async () => {
    const p = await rawFile({
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
      b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    }, 24);
    expect((await openError(p)).message).toMatch(/corrupt header: tensors 'a' and 'b' overlap/);
  });

  it('rejects non-string metadata', async () => {
    const p = await rawFile({ __metadata__: { format: 3 } });
    expect((await openError(p)).message).toMatch(/corrupt header: __metadata__\['format'\] is not a string/);
  });

  it('names a missing tensor and suggests similar names', async () => {
    const p = fresh('missing');
    await writeSafetensors(p, [{ name: 'blocks.0.attn.qkv.weight', dtype: 'F16', shape: [2], data: new Uint8Array(4) }]);
    const f = await SafetensorsFile.open(p);
    try {
      expect(() => f.info('blocks.1.attn.qkv.weight')).toThrow(/missing tensor 'blocks.1.attn.qkv.weight' \(the file has 1 tensors; similar names: blocks.0.attn.qkv.weight\)/);
      expect(() => f.info('x')).toThrow(p);
    } finally {
      await f.close();
    }
  });

  it('reports a file truncated after opening when the tensor is read', async () => {
    const p = fresh('shrink');
    await writeSafetensors(p, [{ name: 'w', dtype: 'F32', shape: [64], data: new Uint8Array(256) }]);
    const f = await SafetensorsFile.open(p);
    try {
      await truncate(p, f.dataStart + 100);
      await expect(f.read('w')).rejects.toThrow(/truncated file: tensor 'w' needs bytes up to position \d+ but the file ends at \d+/);
    } finally {
      await f.close();
    }
  });

  it('accepts tensors stored out of order and with gaps (only overlaps are errors)', async () => {
    const a = Buffer.from(Float32Array.from([1, 2, 3]).buffer);
    const b = Buffer.from(Float32Array.from([4, 5]).buffer);
    const json = JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: [16, 28] }, b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const p = fresh('order');
    await writeFile(p, Buffer.concat([len, Buffer.from(json), b, Buffer.alloc(8), a]));
    const f = await SafetensorsFile.open(p);
    try {
      expect(f.names()).toEqual(['b', 'a']);
      expect(Array.from(new Float32Array((await f.read('a')).slice().buffer))).toEqual([1, 2, 3]);
      expect(Array.from(new Float32Array((await f.read('b')).slice().buffer))).toEqual([4, 5]);
    } finally {
      await f.close();
    }
  });
});

describe('safetensors round trip', () => {
  const dtypes: SafetensorsDType[] = ['BF16', 'F16', 'F32', 'F64', 'I64', 'I32', 'U8', 'BOOL', 'F8_E4M3'];
  const shapes = [[3, 5, 7], [1], [13], [0, 4], [], [2, 1, 3]];

  it('writes and reads back every dtype with odd shapes, bit for bit, with metadata', async () => {
    const tensors = dtypes.flatMap((dtype, i) => shapes.map((shape, j) => {
      const bytes = shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[dtype];
      return { name: `t${i}.${j}`, dtype, shape, data: new Uint8Array(randomBytes(bytes)) };
    }));
    const p = fresh('rt');
    await writeSafetensors(p, tensors, { format: 'pt', note: 'round trip' });
    const f = await SafetensorsFile.open(p);
    try {
      expect(f.metadata).toEqual({ format: 'pt', note: 'round trip' });
      expect(f.tensors.length).toBe(tensors.length);
      expect(f.dataStart % 8).toBe(0); // header padded: data section 8-byte aligned
      for (const t of tensors) {
        const info = f.info(t.name);
        expect(info.dtype).toBe(t.dtype);
        expect(info.shape).toEqual(t.shape);
        expect(Buffer.from(await f.read(t.name)).equals(Buffer.from(t.data))).toBe(true);
      }
    } finally {
      await f.close();
    }
  });

  it('streams writes in arbitrary pieces that cross tensor boundaries', async () => {
    const specs = [{ name: 'a', dtype: 'F32' as const, shape: [5, 3] }, { name: 'b', dtype: 'BF16' as const, shape: [7] }];
    const all = new Uint8Array(randomBytes(60 + 14));
    const p = fresh('pieces');
    const w = await SafetensorsWriter.create(p, specs);
    for (let off = 0; off < all.length; off += 11) await w.write(all.subarray(off, Math.min(all.length, off + 11)));
    await w.close();
    const f = await SafetensorsFile.open(p);
    try {
      expect(Buffer.from(await f.read('a')).equals(Buffer.from(all.subarray(0, 60)))).toBe(true);
      expect(Buffer.from(await f.read('b')).equals(Buffer.from(all.subarray(60)))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('refuses a writer closed early or fed too much', async () => {
    const p = fresh('early');
    const w = await SafetensorsWriter.create(p, [{ name: 'a', dtype: 'F32', shape: [4] }]);
    await w.write(new Uint8Array(8));
    await expect(w.close()).rejects.toThrow(/closed before tensor 'a' was fully written \(8 of 16 bytes\)/);
    const w2 = await SafetensorsWriter.create(fresh('much'), [{ name: 'a', dtype: 'F32', shape: [1] }]);
    await expect(w2.write(new Uint8Array(8))).rejects.toThrow(/4 bytes written past the last declared tensor/);
    await w2.close();
  });

  it('encodes the header the way the format specifies (u64 LE length, JSON, space padding)', () => {
    const h = encodeHeader([{ name: 'x', dtype: 'F16', shape: [3] }], { format: 'pt' });
    const len = Number(new DataView(h.buffer).getBigUint64(0, true));
    expect(h.byteLength).toBe(8 + len);
    expect(len % 8).toBe(0);
    const json = JSON.parse(Buffer.from(h.subarray(8)).toString('utf8'));
    expect(json).toEqual({ __metadata__: { format: 'pt' }, x: { dtype: 'F16', shape: [3], data_offsets: [0, 6] } });
  });
});

describe('chunked reads', () => {
  it('streams a tensor larger than the chunk in whole-element chunks through one reused buffer', async () => {
    const data = new Uint8Array(randomBytes(1001 * 4));
    const p = fresh('chunks');
    await writeSafetensors(p, [
      { name: 'small', dtype: 'F16', shape: [3], data: new Uint8Array(6) },
      { name: 'big', dtype: 'F32', shape: [7, 11, 13], data },
    ]);
    const f = await SafetensorsFile.open(p);
    try {
      const parts: Buffer[] = [];
      let buffer: ArrayBufferLike | null = null;
      let count = 0;
      for await (const c of f.chunks('big', 30)) { // 30 bytes -> 28 (7 whole f32 elements)
        expect(c.byteLength % 4).toBe(0);
        expect(c.byteLength).toBeLessThanOrEqual(28);
        buffer ??= c.buffer;
        expect(c.buffer).toBe(buffer); // one reused host buffer
        parts.push(Buffer.from(c));
        count++;
      }
      expect(count).toBe(Math.ceil(4004 / 28));
      expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
      const mid = new Uint8Array(100);
      await f.readInto('big', mid, 1234);
      expect(Buffer.from(mid).equals(Buffer.from(data.subarray(1234, 1334)))).toBe(true);
      await expect(f.readInto('big', new Uint8Array(8), 4000)).rejects.toThrow(/outside tensor 'big'/);
      // Two interleaved streams of one file must not share (and corrupt) one buffer.
      const a = f.chunks('big', 400);
      const b = f.chunks('big', 400);
      const a0 = Buffer.from((await a.next()).value as Uint8Array);
      const b0 = (await b.next()).value as Uint8Array;
      const a1 = (await a.next()).value as Uint8Array;
      expect(Buffer.from(b0).equals(Buffer.from(data.subarray(0, 400)))).toBe(true);
      expect(a0.equals(Buffer.from(data.subarray(0, 400)))).toBe(true);
      expect(Buffer.from(a1).equals(Buffer.from(data.subarray(400, 800)))).toBe(true);
      await a.return(undefined);
      await b.return(undefined);
    } finally {
      await f.close();
    }
  });
});
