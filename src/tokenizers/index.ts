// Prompt tokenizers for the text encoders (T5 unigram, CLIP byte-level BPE). See docs/text-encoders.md.
export { TextTokenizer, TokenizerError, type Encoded, type EncodeOptions, type TokenizerKind } from './text-tokenizer.js';
export { loadTokenizer, readTokenizerFiles, t5TokenizerJsonFromSpm, clipTokenizerJsonFromBpe, type TokenizerSource } from './load.js';
export { parseSentencePieceModel, SpmParseError } from './spiece.js';
