// A prompt tokenizer for the text encoders: Hugging Face `tokenizer.json` pipelines run by @huggingface/tokenizers
// (pure JS; its ids equal the Python `tokenizers` ids on every string in test/tokenizers, including the T5
// Precompiled normaliser and CLIP's byte-level BPE), plus the two things diffusers' pipelines add on top:
// the special tokens' placement under truncation, and right padding to a fixed length.
//
// Pipelines call `tokenizer(prompt, padding="max_length", max_length=N, truncation=True)`: the text's tokens are
// cut so that they plus the special tokens fit N (T5: text + </s>; CLIP: <|startoftext|> + text +
// <|endoftext|>), then padded on the right with the pad token (T5 <pad>=0; CLIP-L <|endoftext|>; SD3's CLIP-G "!").
import { Tokenizer } from '@huggingface/tokenizers';

export type TokenizerKind = 't5' | 'clip' | 'other';

export class TokenizerError extends Error {}

export interface TokenizerFiles {
  /** tokenizer.json contents. */
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json (+ special_tokens_map.json) contents; {} when absent. */
  config: Record<string, unknown>;
  /** Where it came from, for messages. */
  source: string;
}

export interface EncodeOptions {
  /** Pad/truncate to exactly this many ids (the pipelines' max_length); default: the tokenizer's model_max_length. */
  maxLength?: number;
  /** Default true: pad with the pad token to maxLength (padding="max_length"). */
  pad?: boolean;
}

export interface Encoded {
  /** Token ids, exactly maxLength long when padded. */
  ids: Int32Array;
  /** Ids before padding (text + special tokens), after truncation. */
  length: number;
  /** Text tokens dropped by truncation (diffusers logs a warning for these). */
  truncatedTokens: number;
}

function tokenName(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/** The special ids a post-processor puts before and after a single sequence. */
function specialTemplate(post: unknown, source: string): { prefix: number[]; suffix: number[] } {
  if (post === null || post === undefined) return { prefix: [], suffix: [] };
  const p = post as Record<string, unknown>;
  const type = p.type;
  if (type === 'Sequence' && Array.isArray(p.processors)) {
    const parts = (p.processors as unknown[]).map((q) => specialTemplate(q, source));
    return { prefix: parts.flatMap((x) => x.prefix), suffix: parts.flatMap((x) => x.suffix) };
  }
  if (type === 'RobertaProcessing' || type === 'BertProcessing') {
    const cls = p.cls as [string, number];
    const sep = p.sep as [string, number];
    return { prefix: [cls[1]], suffix: [sep[1]] };
  }
  if (type === 'TemplateProcessing' && Array.isArray(p.single)) {
    const specials = (p.special_tokens ?? {}) as Record<string, { ids: number[] }>;
    const prefix: number[] = [];
    const suffix: number[] = [];
    let seen = false;
    for (const piece of p.single as Record<string, { id: string }>[]) {
      if ('Sequence' in piece) {
        seen = true;
        continue;
      }
      const sp = specials[piece.SpecialToken?.id];
      if (!sp) throw new TokenizerError(`${source}: post_processor names special token ${JSON.stringify(piece.SpecialToken?.id)} that it does not define`);
      (seen ? suffix : prefix).push(...sp.ids);
    }
    return { prefix, suffix };
  }
  if (type === 'ByteLevel') return { prefix: [], suffix: [] };
  throw new TokenizerError(`${source}: post_processor type ${String(type)} is not supported (supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel)`);
}

export class TextTokenizer {
  readonly kind: TokenizerKind;
  readonly padId: number;
  readonly eosId: number | null;
  readonly bosId: number | null;
  /** tokenizer_config.json model_max_length (CLIP 77, T5 512), when it is a sane number. */
  readonly modelMaxLength: number | null;
  readonly vocabSize: number;
  private readonly tok: Tokenizer;
  private readonly prefix: number[];
  private readonly suffix: number[];

  constructor(files: TokenizerFiles) {
    const { tokenizerJson: tj, config, source } = files;
    try {
      this.tok = new Tokenizer(tj, config);
    } catch (e) {
      throw new TokenizerError(`${source}: cannot build the tokenizer (${(e as Error).message}); is this a Hugging Face tokenizer.json?`);
    }
    const model = (tj.model ?? {}) as Record<string, unknown>;
    this.kind = model.type === 'Unigram' ? 't5' : model.type === 'BPE' && (model.end_of_word_suffix === '</w>') ? 'clip' : 'other';
    ({ prefix: this.prefix, suffix: this.suffix } = specialTemplate(tj.post_processor, source));
    const id = (name: string | null): number | null => (name === null ? null : (this.tok.token_to_id(name) ?? null));
    const defaults = this.kind === 't5' ? { pad: '<pad>', eos: '</s>', bos: null } : { pad: '<|endoftext|>', eos: '<|endoftext|>', bos: '<|startoftext|>' };
    const padName = tokenName(config.pad_token) ?? defaults.pad;
    const pad = id(padName);
    if (pad === null) throw new TokenizerError(`${source}: pad token ${JSON.stringify(padName)} is not in the vocabulary; fix pad_token in tokenizer_config.json`);
    this.padId = pad;
    this.eosId = id(tokenName(config.eos_token) ?? defaults.eos);
    this.bosId = id(tokenName(config.bos_token) ?? defaults.bos);
    const mml = config.model_max_length;
    this.modelMaxLength = typeof mml === 'number' && Number.isInteger(mml) && mml > 0 && mml < 1e6 ? mml : null;
    this.vocabSize = this.tok.get_vocab(true).size;
  }

  /** Ids of the text alone (no special tokens, no truncation). */
  textIds(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`prompt must be a string, got ${typeof text}`);
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** Python `tokenizer(text).input_ids`: special tokens added, no truncation or padding. */
  encodeRaw(text: string): number[] {
    return [...this.prefix, ...this.textIds(text), ...this.suffix];
  }

  /** The pipelines' call: truncate the text so it and the special tokens fit maxLength, then right-pad. */
  encode(text: string, opts: EncodeOptions = {}): Encoded {
    const maxLength = opts.maxLength ?? this.modelMaxLength;
    const specials = this.prefix.length + this.suffix.length;
    if (maxLength === null || maxLength === undefined) throw new TokenizerError('no maxLength given and tokenizer_config.json has no model_max_length');
    if (!Number.isInteger(maxLength) || maxLength <= specials) {
      throw new TokenizerError(`maxLength ${maxLength} must be an integer above the ${specials} special tokens this tokenizer adds`);
    }
    const text_ = this.textIds(text);
    const room = maxLength - specials;
    const kept = text_.length > room ? text_.slice(0, room) : text_;
    const body = [...this.prefix, ...kept, ...this.suffix];
    const pad = opts.pad ?? true;
    const ids = new Int32Array(pad ? maxLength : body.length).fill(this.padId);
    ids.set(body);
    return { ids, length: body.length, truncatedTokens: text_.length - kept.length };
  }

  decode(ids: ArrayLike<number>): string {
    return this.tok.decode(Array.from(ids), { skip_special_tokens: true });
  }
}
