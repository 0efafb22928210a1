// PNG text metadata (prompt, seed, settings), written into the PNG bytes sharp produces: sharp writes EXIF/XMP
// but not PNG tEXt/iTXt chunks, which are what image viewers and other generators read.
// PNG spec (ISO/IEC 15948) 5.3 chunk layout: length (u32 BE) | type (4 ASCII) | data | CRC-32 of type + data;
// 11.3.4 tEXt: keyword (1-79 Latin-1 chars) NUL text (Latin-1); iTXt: keyword NUL compression-flag(0)
// compression-method(0) language-tag NUL translated-keyword NUL text (UTF-8). Chunks go after IHDR, before IDAT.

const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42, the PNG and zlib polynomial). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}

function checkKeyword(k: string): void {
  // Printable Latin-1, no leading/trailing/double spaces (spec 11.3.4.2).
  if (!(k.length >= 1 && k.length <= 79) || !isLatin1(k) || /[^\x20-\x7e\xa1-\xff]/.test(k) || /^ | $| {2}/.test(k)) {
    throw new Error(`PNG text keyword ${JSON.stringify(k)} must be 1-79 printable Latin-1 characters without leading, trailing or double spaces`);
  }
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(latin1(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** One tEXt chunk when key and value are Latin-1 (and have no NUL), else an uncompressed iTXt (UTF-8). */
export function textChunk(key: string, value: string): Uint8Array {
  checkKeyword(key);
  if (isLatin1(value) && !value.includes('\0')) {
    const k = latin1(key), v = latin1(value);
    const data = new Uint8Array(k.length + 1 + v.length);
    data.set(k, 0);
    data.set(v, k.length + 1);
    return chunk('tEXt', data);
  }
  const k = latin1(key), v = new TextEncoder().encode(value.replaceAll('\0', ''));
  // keyword NUL, flag 0, method 0, language "" NUL, translated keyword "" NUL, text
  const data = new Uint8Array(k.length + 5 + v.length);
  data.set(k, 0);
  data.set(v, k.length + 5);
  return chunk('iTXt', data);
}

function checkSignature(png: Uint8Array): void {
  if (png.length < 8 + 25 || PNG_SIGNATURE.some((b, i) => png[i] !== b)) throw new Error('not a PNG file (bad signature)');
}

/** Returns a copy of the PNG with text chunks inserted right after IHDR. */
export function insertPngText(png: Uint8Array, entries: Record<string, string>): Uint8Array {
  checkSignature(png);
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const ihdrLen = dv.getUint32(8);
  if (String.fromCharCode(...png.subarray(12, 16)) !== 'IHDR') throw new Error('not a PNG file (first chunk is not IHDR)');
  const at = 8 + 12 + ihdrLen;
  const chunks = Object.entries(entries).map(([k, v]) => textChunk(k, v));
  const extra = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(png.length + extra);
  out.set(png.subarray(0, at), 0);
  let p = at;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  out.set(png.subarray(at), p);
  return out;
}

/** Reads every tEXt and uncompressed iTXt chunk (CRCs checked). Compressed zTXt/iTXt are skipped. */
export function readPngText(png: Uint8Array): Record<string, string> {
  checkSignature(png);
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  let p = 8;
  while (p + 12 <= png.length) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    if (p + 12 + len > png.length) throw new Error(`PNG chunk ${type} at byte ${p} runs past the end of the file`);
    const data = png.subarray(p + 8, p + 8 + len);
    const crc = dv.getUint32(p + 8 + len);
    if (crc !== crc32(png.subarray(p + 4, p + 8 + len))) throw new Error(`PNG chunk ${type} at byte ${p}: CRC mismatch`);
    if (type === 'tEXt') {
      const z = data.indexOf(0);
      out[String.fromCharCode(...data.subarray(0, z))] = String.fromCharCode(...data.subarray(z + 1));
    } else if (type === 'iTXt') {
      const z = data.indexOf(0);
      const key = String.fromCharCode(...data.subarray(0, z));
      const compressed = data[z + 1];
      const lang = data.indexOf(0, z + 3);
      const trans = data.indexOf(0, lang + 1);
      if (!compressed) out[key] = new TextDecoder().decode(data.subarray(trans + 1));
    } else if (type === 'IEND') {
      break;
    }
    p += 12 + len;
  }
  return out;
}
