// Reads a SentencePiece model file (`spiece.model`, a serialized sentencepiece.ModelProto protobuf) far enough
// to rebuild T5's tokenizer: the pieces with their scores and types, the special ids from the trainer spec, and
// the normaliser's precompiled charsmap. Field numbers are sentencepiece_model.proto's:
//   ModelProto      { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2; NormalizerSpec normalizer_spec = 3; }
//   SentencePiece   { string piece = 1; float score = 2; Type type = 3 (NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 BYTE=6 UNUSED=5) }
//   TrainerSpec     { int32 unk_id = 40; bos_id = 41; eos_id = 42; pad_id = 43; byte_fallback = 35; model_type = 3 }
//   NormalizerSpec  { string name = 1; bytes precompiled_charsmap = 2; bool add_dummy_prefix = 3;
//                     bool remove_extra_whitespaces = 4; bool escape_whitespaces = 5 }
// Only the wire types protobuf uses here (varint, 64-bit, length-delimited, 32-bit) are handled; anything else
// is an error naming the file.

export interface SpmPiece {
  piece: string;
  score: number;
  /** 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  type: number;
}

export interface SpmModel {
  pieces: SpmPiece[];
  /** 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  byteFallback: boolean;
  normalizerName: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

export class SpmParseError extends Error {}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly what: string) {}

  fail(msg: string): never {
    throw new SpmParseError(`${this.what}: not a valid SentencePiece model (${msg} at byte ${this.pos}); re-download spiece.model or use tokenizer.json`);
  }

  varint(): number {
    let result = 0;
    let mult = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) return result;
      mult *= 128;
    }
    return this.fail('varint too long');
  }

  /** An int32 field: negative values (-1 = disabled) arrive as 10-byte two's-complement varints. */
  int32(): number {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return Number(BigInt.asIntN(32, v));
      shift += 7n;
    }
    return this.fail('varint too long');
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) this.fail(`field of ${n} bytes runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  float32(): number {
    if (this.pos + 4 > this.buf.length) this.fail('truncated float');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  /** Calls `field` for each (number, wire type); `field` returns false to have the value skipped. */
  fields(field: (num: number, wire: number) => boolean): void {
    while (this.pos < this.buf.length) {
      const key = this.varint();
      const num = Math.floor(key / 8);
      const wire = key & 7;
      if (num === 0) this.fail('field number 0');
      if (field(num, wire)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.skip(8);
      else if (wire === 2) this.bytes();
      else if (wire === 5) this.skip(4);
      else this.fail(`unsupported wire type ${wire}`);
    }
  }

  private skip(n: number): void {
    if (this.pos + n > this.buf.length) this.fail('truncated field');
    this.pos += n;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses the bytes of a spiece.model file. */
export function parseSentencePieceModel(buf: Uint8Array, what = 'spiece.model'): SpmModel {
  const m: SpmModel = {
    pieces: [], modelType: 1, unkId: 0, bosId: 1, eosId: 2, padId: -1, byteFallback: false,
    normalizerName: '', precompiledCharsmap: new Uint8Array(0), addDummyPrefix: true, removeExtraWhitespaces: true,
  };
  const top = new Reader(buf, what);
  const str = (r: Reader, b: Uint8Array) => {
    try {
      return utf8.decode(b);
    } catch {
      return r.fail('a piece is not valid UTF-8');
    }
  };
  top.fields((num, wire) => {
    if (num === 1 && wire === 2) {
      const r = new Reader(top.bytes(), what);
      const p: SpmPiece = { piece: '', score: 0, type: 1 };
      r.fields((n, w) => {
        if (n === 1 && w === 2) p.piece = str(r, r.bytes());
        else if (n === 2 && w === 5) p.score = r.float32();
        else if (n === 3 && w === 0) p.type = r.varint();
        else return false;
        return true;
      });
      m.pieces.push(p);
      return true;
    }
    if (num === 2 && wire === 2) {
      const r = new Reader(top.bytes(), what);
      r.fields((n, w) => {
        if (w !== 0) return false;
        const v = r.int32();
        if (n === 3) m.modelType = v;
        else if (n === 35) m.byteFallback = v !== 0;
        else if (n === 40) m.unkId = v;
        else if (n === 41) m.bosId = v;
        else if (n === 42) m.eosId = v;
        else if (n === 43) m.padId = v;
        return true;
      });
      return true;
    }
    if (num === 3 && wire === 2) {
      const r = new Reader(top.bytes(), what);
      r.fields((n, w) => {
        if (n === 1 && w === 2) m.normalizerName = str(r, r.bytes());
        else if (n === 2 && w === 2) m.precompiledCharsmap = r.bytes().slice();
        else if (n === 3 && w === 0) m.addDummyPrefix = r.varint() !== 0;
        else if (n === 4 && w === 0) m.removeExtraWhitespaces = r.varint() !== 0;
        else return false;
        return true;
      });
      return true;
    }
    return false;
  });
  if (m.pieces.length === 0) top.fail('no pieces');
  return m;
}
