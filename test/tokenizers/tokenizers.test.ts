// Tokenizer ids against Python `tokenizers`/transformers ids (bench/reference/make_encoder_goldens.py): tricky
// strings (Unicode, accents, punctuation, digits, repeated spaces, empty, longer than the maximum length) through
// every file form a repository ships, raw and padded/truncated exactly like the diffusers pipelines.
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer, parseSentencePieceModel, TextTokenizer, TokenizerError, type TokenizerSource } from '../../src/tokenizers/index.js';

const BASE = 'test/fixtures/tiny-encoders';
interface Gold {
  strings: string[];
  [k: string]: unknown;
}
const gold = JSON.parse(readFileSync(join(BASE, 'tokenizer-golden.json'), 'utf8')) as Gold;
const G = (name: string) => gold[name] as { max_length: number; raw: number[][]; padded: number[][]; pad_id: number; eos_id: number };

const cases: [string, string, TokenizerSource[]][] = [
  ['t5', 'tokenizers/t5', ['tokenizer.json', 'spiece.model']],
  ['clip', 'tokenizers/clip', ['tokenizer.json', 'vocab.json+merges.txt']],
  ['clip-g', 'tokenizers/clip-g', ['tokenizer.json', 'vocab.json+merges.txt']],
];

describe('tokenizers match Python ids', () => {
  for (const [name, dir, sources] of cases) {
    for (const src of sources) {
      it(`${name} from ${src}: raw and pipeline-padded ids`, async () => {
        const tok = await loadTokenizer(join(BASE, dir), src);
        const g = G(name);
        expect(tok.padId).toBe(g.pad_id);
        expect(tok.eosId).toBe(g.eos_id);
        gold.strings.forEach((s, i) => {
          expect(tok.encodeRaw(s), `raw ${JSON.stringify(s)}`).toEqual(g.raw[i]);
          const enc = tok.encode(s, { maxLength: g.max_length });
          expect(Array.from(enc.ids), `padded ${JSON.stringify(s)}`).toEqual(g.padded[i]);
          expect(enc.truncatedTokens).toBe(Math.max(0, g.raw[i].length - g.max_length));
        });
      });
    }
  }

  it('the long prompt really is truncated (the golden covers truncation)', async () => {
    const tok = await loadTokenizer(join(BASE, 'tokenizers/clip'));
    const long = gold.strings.find((s) => s.length > 400)!;
    const e = tok.encode(long);
    expect(e.truncatedTokens).toBeGreaterThan(0);
    expect(e.ids.length).toBe(77);
    expect(e.ids[76]).toBe(tok.eosId);
  });
});

describe('older tokenizer.json files give the ids transformers 5 gives', () => {
  // An earlier converter wrote T5 files with Metaspace(add_prefix_space) and no WhitespaceSplit (FLUX's
  // tokenizer_2 era); transformers 5 ignores everything but the vocabulary and the charsmap and rebuilds the rest.
  async function oldStyleT5(withClass: boolean): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tok-old-'));
    const tj = JSON.parse(readFileSync(join(BASE, 'tokenizers/t5/tokenizer.json'), 'utf8')) as Record<string, unknown>;
    tj.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true };
    tj.normalizer = { type: 'Sequence', normalizers: [tj.normalizer, { type: 'Replace', pattern: { String: '\u00e9' }, content: 'e' }] };
    tj.decoder = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true };
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tj));
    const cfg = JSON.parse(readFileSync(join(BASE, 'tokenizers/t5/tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    if (!withClass) delete cfg.tokenizer_class;
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    return dir;
  }

  it('T5: the file pipeline is replaced by T5Tokenizer\'s (ids equal; run as written they would not)', async () => {
    const g = G('t5');
    const rebuilt = await loadTokenizer(await oldStyleT5(true));
    gold.strings.forEach((s, i) => expect(rebuilt.encodeRaw(s), JSON.stringify(s)).toEqual(g.raw[i]));
    const asWritten = await loadTokenizer(await oldStyleT5(false));
    expect(gold.strings.some((s, i) => JSON.stringify(asWritten.encodeRaw(s)) !== JSON.stringify(g.raw[i]))).toBe(true);
  });
});

describe('tokenizer input errors', () => {
  it('names missing files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tok-'));
    await expect(loadTokenizer(dir)).rejects.toThrow(/no tokenizer found.*tokenizer\.json, spiece\.model/);
    await expect(loadTokenizer(join(dir, 'nope'))).rejects.toThrow(/no such file or folder/);
  });

  it('rejects a broken tokenizer.json and a broken spiece.model with the file named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tok-'));
    await writeFile(join(dir, 'tokenizer.json'), '{"model": ');
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer\.json: not valid JSON/);
    const bad = new Uint8Array(readFileSync(join(BASE, 'tokenizers/t5/spiece.model'))).slice(0, 1000);
    expect(() => parseSentencePieceModel(bad, 'x/spiece.model')).toThrow(/x\/spiece\.model: not a valid SentencePiece model/);
  });

  it('rejects a pad token outside the vocabulary and a maxLength with no room for text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tok-'));
    await copyFile(join(BASE, 'tokenizers/clip/tokenizer.json'), join(dir, 'tokenizer.json'));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<not-a-token>' }));
    await expect(loadTokenizer(dir)).rejects.toThrow(/pad token "<not-a-token>" is not in the vocabulary/);
    const tok = await loadTokenizer(join(BASE, 'tokenizers/clip'));
    expect(() => tok.encode('a cat', { maxLength: 2 })).toThrow(TokenizerError);
    expect(() => tok.encode(42 as unknown as string)).toThrow(/prompt must be a string/);
  });

  it('parses spiece.model fields (T5 ids: pad 0, eos 1, unk 2)', () => {
    const m = parseSentencePieceModel(new Uint8Array(readFileSync(join(BASE, 'tokenizers/t5/spiece.model'))));
    expect([m.padId, m.eosId, m.unkId, m.bosId]).toEqual([0, 1, 2, -1]);
    expect(m.normalizerName).toBe('nmt_nfkc');
    expect(m.precompiledCharsmap.length).toBeGreaterThan(1000);
    expect(m.pieces[1].piece).toBe('</s>');
  });

  it('is a TextTokenizer', async () => {
    expect(await loadTokenizer(join(BASE, 'tokenizers/t5'))).toBeInstanceOf(TextTokenizer);
  });
});
