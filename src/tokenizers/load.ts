// Finds and reads a tokenizer from the files model repositories ship, in order of preference:
//   tokenizer.json (+ tokenizer_config.json, special_tokens_map.json)   any Hugging Face fast tokenizer
//   spiece.model                                                         T5 (SentencePiece unigram)
//   vocab.json + merges.txt                                              CLIP (byte-level BPE)
// The last two are turned into the same tokenizer.json pipeline that transformers' own T5Tokenizer and
// CLIPTokenizer build from those files, so all three paths give the same ids (test/tokenizers checks this).
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseSentencePieceModel } from './spiece.js';
import { TextTokenizer, TokenizerError, type TokenizerFiles } from './text-tokenizer.js';

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function readJson(p: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch (e) {
    throw new TokenizerError(`${p}: cannot read (${(e as Error).message})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new TokenizerError(`${p}: not valid JSON (${(e as Error).message}); re-download it`);
  }
}

async function readConfig(dir: string): Promise<Record<string, unknown>> {
  const map = (await exists(join(dir, 'special_tokens_map.json'))) ? await readJson(join(dir, 'special_tokens_map.json')) : {};
  const cfg = (await exists(join(dir, 'tokenizer_config.json'))) ? await readJson(join(dir, 'tokenizer_config.json')) : {};
  return { ...map, ...cfg };
}

const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** T5's tokenizer.json from a spiece.model, as transformers' T5Tokenizer builds it (extra_ids sentinels appended). */
export function t5TokenizerJsonFromSpm(bytes: Uint8Array, source: string, extraIds = 100): Record<string, unknown> {
  const m = parseSentencePieceModel(bytes, source);
  if (m.modelType !== 1) throw new TokenizerError(`${source}: SentencePiece model type ${m.modelType} is not unigram (T5 tokenizers are unigram)`);
  const vocab: [string, number][] = m.pieces.map((p) => [p.piece, p.score]);
  for (let i = extraIds - 1; i >= 0; i--) vocab.push([`<extra_id_${i}>`, 0]);
  const eos = m.pieces.findIndex((p) => p.piece === '</s>');
  if (eos < 0) throw new TokenizerError(`${source}: no </s> piece; this is not a T5 SentencePiece model`);
  const specials = m.pieces.flatMap((p, id) => (p.type === 2 || p.type === 3 ? [added(id, p.piece)] : []));
  for (let i = 0; i < extraIds; i++) specials.push(added(m.pieces.length + (extraIds - 1 - i), `<extra_id_${i}>`));
  specials.sort((a, b) => a.id - b.id);
  const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials,
    normalizer: m.precompiledCharsmap.length ? { type: 'Precompiled', precompiled_charsmap: Buffer.from(m.precompiledCharsmap).toString('base64') } : null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
    post_processor: t5Template(eos),
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: m.unkId, vocab, byte_fallback: m.byteFallback },
  };
}

// CLIP's pre-tokeniser split (the regex of openai/CLIP simple_tokenizer.py, as transformers writes it).
const CLIP_SPLIT = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** CLIP's tokenizer.json from vocab.json + merges.txt, as transformers' CLIPTokenizer builds it. */
export function clipTokenizerJsonFromBpe(vocab: Record<string, number>, mergesText: string, source: string, cfg: Record<string, unknown> = {}): Record<string, unknown> {
  const merges = mergesText.split('\n').filter((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#version')));
  for (const m of merges) if (m.split(' ').length !== 2) throw new TokenizerError(`${source}: merges.txt line ${JSON.stringify(m)} is not two symbols`);
  const name = (v: unknown, d: string) => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : d);
  const bos = name(cfg.bos_token, '<|startoftext|>');
  const eos = name(cfg.eos_token, '<|endoftext|>');
  const unk = name(cfg.unk_token, '<|endoftext|>');
  const ids = [bos, eos].map((t) => {
    const id = vocab[t];
    if (id === undefined) throw new TokenizerError(`${source}: vocab.json lacks ${t}; this is not a CLIP vocabulary`);
    return id;
  });
  // transformers registers every special token of the config as an added token; that matters for a pad token
  // that is a normal character (SD3's tokenizer_2 pads with "!", so "!!!" becomes three "!" ids, not one BPE merge).
  const specials = new Map<string, number>([[bos, ids[0]], [eos, ids[1]]]);
  const pad = name(cfg.pad_token, eos);
  if (vocab[pad] !== undefined) specials.set(pad, vocab[pad]);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...specials].map(([t, id]) => added(id, t)).sort((a, b) => a.id - b.id),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, ids[1]], cls: [bos, ids[0]], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

/**
 * transformers 5 does not run a T5 or CLIP tokenizer.json as written: T5Tokenizer and CLIPTokenizer take only the
 * vocabulary (T5: also the Precompiled charsmap; CLIP: also the merges) from the file and rebuild the rest of the
 * pipeline themselves. Older files differ in that rest (e.g. FLUX's tokenizer_2 from an earlier converter:
 * Metaspace without WhitespaceSplit, an extra " {2,}" Replace), so the ids diffusers sees come from the
 * rebuilt pipeline: we rebuild it the same way.
 */
function canonicalTokenizerJson(tj: Record<string, unknown>, cfg: Record<string, unknown>, source: string): Record<string, unknown> {
  const cls = typeof cfg.tokenizer_class === 'string' ? cfg.tokenizer_class.replace(/Fast$/, '') : '';
  const model = (tj.model ?? {}) as Record<string, unknown>;
  if (cls === 'T5Tokenizer' && model.type === 'Unigram' && Array.isArray(model.vocab)) {
    const vocab = model.vocab as [string, number][];
    const eos = vocab.findIndex((v) => v[0] === '</s>');
    if (eos < 0) throw new TokenizerError(`${source}: a T5 tokenizer without </s> in its vocabulary`);
    const norms = (tj.normalizer as { type?: string; normalizers?: unknown[] } | null) ?? null;
    const list = norms ? (norms.type === 'Sequence' ? (norms.normalizers as Record<string, unknown>[]) : [norms as Record<string, unknown>]) : [];
    const pre = list.find((n) => n.type === 'Precompiled' && typeof n.precompiled_charsmap === 'string');
    const metaspace = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true };
    return {
      ...tj,
      normalizer: pre ? { type: 'Precompiled', precompiled_charsmap: pre.precompiled_charsmap } : null,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
      post_processor: t5Template(eos),
      decoder: metaspace,
    };
  }
  if (cls === 'CLIPTokenizer' && model.type === 'BPE' && model.vocab && typeof model.vocab === 'object' && Array.isArray(model.merges)) {
    const merges = (model.merges as (string | [string, string])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m)).join('\n');
    return clipTokenizerJsonFromBpe(model.vocab as Record<string, number>, merges, source, cfg);
  }
  return tj;
}

function t5Template(eos: number) {
  return {
    type: 'TemplateProcessing',
    single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    special_tokens: { '</s>': { id: '</s>', ids: [eos], tokens: ['</s>'] } },
  };
}

export type TokenizerSource = 'tokenizer.json' | 'spiece.model' | 'vocab.json+merges.txt';

/** Reads the tokenizer files of a folder (e.g. `<pipeline>/tokenizer_2`), or a tokenizer.json path. */
export async function readTokenizerFiles(path: string, prefer?: TokenizerSource): Promise<TokenizerFiles & { kind: TokenizerSource }> {
  let dir = path;
  try {
    if ((await stat(path)).isFile()) dir = dirname(path);
  } catch {
    throw new TokenizerError(`${path}: no such file or folder (give a tokenizer folder holding tokenizer.json, spiece.model, or vocab.json + merges.txt)`);
  }
  const config = await readConfig(dir);
  const tj = path !== dir && basename(path) === 'tokenizer.json' ? path : join(dir, 'tokenizer.json');
  const order: TokenizerSource[] = prefer ? [prefer] : ['tokenizer.json', 'spiece.model', 'vocab.json+merges.txt'];
  for (const kind of order) {
    if (kind === 'tokenizer.json' && (await exists(tj))) return { kind, tokenizerJson: canonicalTokenizerJson(await readJson(tj), config, tj), config, source: tj };
    if (kind === 'spiece.model' && (await exists(join(dir, 'spiece.model')))) {
      const p = join(dir, 'spiece.model');
      const extra = typeof config.extra_ids === 'number' ? config.extra_ids : 100;
      return { kind, tokenizerJson: t5TokenizerJsonFromSpm(new Uint8Array(await readFile(p)), p, extra), config, source: p };
    }
    if (kind === 'vocab.json+merges.txt' && (await exists(join(dir, 'vocab.json'))) && (await exists(join(dir, 'merges.txt')))) {
      const vocab = (await readJson(join(dir, 'vocab.json'))) as Record<string, number>;
      const merges = await readFile(join(dir, 'merges.txt'), 'utf8');
      return { kind, tokenizerJson: clipTokenizerJsonFromBpe(vocab, merges, join(dir, 'merges.txt'), config), config, source: join(dir, 'vocab.json') };
    }
  }
  throw new TokenizerError(`${dir}: no tokenizer found (expected ${prefer ?? 'tokenizer.json, spiece.model (T5), or vocab.json + merges.txt (CLIP)'})`);
}

export async function loadTokenizer(path: string, prefer?: TokenizerSource): Promise<TextTokenizer> {
  return new TextTokenizer(await readTokenizerFiles(path, prefer));
}
