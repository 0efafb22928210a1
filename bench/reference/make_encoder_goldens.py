"""Tiny random text encoders, their tokenizers, and float64 goldens, all made by the real libraries.

    PYTHONPATH=/work/diffusers-src/src /work/pyref/bin/python bench/reference/make_encoder_goldens.py \
        --out test/fixtures/tiny-encoders

What it writes (everything small; the whole folder stays well under 2 MB):
  tokenizers/t5/      spiece.model trained by sentencepiece (unigram, nmt_nfkc like T5), then T5TokenizerFast
                      .save_pretrained (tokenizer.json with the Precompiled charsmap, Metaspace, "</s>" appended)
  tokenizers/clip/    a byte-level BPE trained with `tokenizers` (CLIP's normaliser/pre-tokeniser), then
                      CLIPTokenizer.save_pretrained (tokenizer.json + vocab.json + merges.txt), pad = <|endoftext|>
  tokenizers/clip-g/  the same BPE with pad_token "!" (SD3's tokenizer_2 pads with "!")
  t5/                 T5EncoderModel (gated-gelu, 32 buckets, max distance 128), save_pretrained sharded + index
  clip-l/             CLIPTextModel, quick_gelu, eos_token_id 2 (the legacy argmax pooling rule)
  clip-l-proj/        CLIPTextModelWithProjection, quick_gelu, eos_token_id 2 (SD3's text_encoder)
  clip-g/             CLIPTextModelWithProjection, gelu, eos_token_id = the real EOS id (first-EOS pooling rule)
  tokenizer-golden.json   Python ids of tricky strings: raw, and padded/truncated exactly like the pipelines
  encoders-golden.safetensors  float64 outputs for fixed id sequences (hidden states, penultimate, pooled, proj)
  pipeline-golden.safetensors  diffusers' FluxPipeline.encode_prompt / StableDiffusion3Pipeline.encode_prompt
                               outputs (float64 encoders) for two prompts
Deterministic (fixed seeds). Weights are stored float32; goldens run the same weights in float64.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil

import torch
from safetensors.torch import save_file

SEED = 1234

CORPUS_WORDS = (
    "a photo of a cat sitting on a red chair in the garden at sunset with golden light "
    "an astronaut riding a horse on mars digital art highly detailed 4k 8k cinematic "
    "portrait of an old man with a beard oil painting by a famous artist trending on artstation "
    "the quick brown fox jumps over the lazy dog 1234567890 numbers 42 3.14 2024 "
    "café naïve résumé façade über straße crème brûlée jalapeño 東京 日本語 emoji 🙂 "
    "hello, world! what's up? (masterpiece:1.2) [best quality] {tags} -- under_score hyphen-ated "
    "THE SKY IS BLUE and the grass is green; mountains, rivers & lakes / forest \\ path"
).split()

TRICKY = [
    "a photo of a cat",
    "",
    " ",
    "A Photo Of A CAT!!!",
    "café naïve résumé — façade, crème brûlée",
    "e\u0301 vs \u00e9 (combining accent vs precomposed)",
    "numbers 1234567890 and 3.14159, 2,000,000 and 1e-5",
    "repeated    spaces\tand\ttabs\nand\nnewlines   ",
    "punctuation!?.,;:'\"()[]{}<>@#$%^&*-_=+/\\|`~",
    "東京タワー and 日本語 text, 한국어, Ελληνικά, русский",
    "emoji 🙂🚀 and ﬁ ligature, ＦＵＬＬＷＩＤＴＨ, ½ fraction, Ⅻ roman",
    "it's don't they're we'll I'm you've",
    "<|endoftext|> inside text and </s> too",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces and zero\u200bwidth",
    " ".join(["a long prompt about a majestic castle on a hill"] * 12),
]

# Probes of the T5 Precompiled (nmt_nfkc charsmap) normaliser where plain NFKC could differ; not in the corpus.
PROBES = [
    "①②③ ™ … Å ǅ ℌ ｶﾀｶﾅ ＡＢＣ ～ 〜 ­soft­hyphen",
    "controlcharsanddel, ﻿bom, replacement �, ▁ lower one eighth block",
    "ﬀ ﬃ ﬄ ﬅ ß ẞ İ ı Ω Ω K Å ℃ ㎏ ㍻ ¼ ⁵ ₂ ｟ ｠",
    "tab\there \\ backslash \u00e9 literal, 'single' \"double\" ``quotes'' „low“",
]


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def corpus(n: int = 3000):
    g = torch.Generator().manual_seed(SEED)
    out = []
    for _ in range(n):
        k = int(torch.randint(3, 14, (1,), generator=g))
        idx = torch.randint(0, len(CORPUS_WORDS), (k,), generator=g).tolist()
        out.append(" ".join(CORPUS_WORDS[i] for i in idx))
    return out + TRICKY


def make_t5_tokenizer(dst: str):
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    os.makedirs(dst, exist_ok=True)
    model = io.BytesIO()
    # T5's ids: pad 0, eos 1, unk 2, no bos; nmt_nfkc normalisation like the released spiece.model.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=model, model_type="unigram", vocab_size=400,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        normalization_rule_name="nmt_nfkc", character_coverage=0.9995, byte_fallback=False,
        hard_vocab_limit=False, num_threads=1,
    )
    with open(os.path.join(dst, "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    # from_pretrained on a folder holding only spiece.model runs transformers' sentencepiece converter (the
    # Precompiled charsmap, Metaspace, "</s>" template), which is how the released tokenizer.json files were made.
    tok = T5TokenizerFast.from_pretrained(dst, extra_ids=100, model_max_length=512)
    tok.save_pretrained(dst)
    return T5TokenizerFast.from_pretrained(dst)


CLIP_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def make_clip_tokenizers(dst_l: str, dst_g: str):
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=600, min_frequency=2, special_tokens=[], end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus(), trainer=trainer)
    vocab = json.loads(bpe.to_str())["model"]["vocab"]
    merges = json.loads(bpe.to_str())["model"]["merges"]
    # CLIP's vocab also has every byte symbol with "</w>"; the specials come last (EOS is the largest id).
    for sym in pre_tokenizers.ByteLevel.alphabet():
        if sym + "</w>" not in vocab:
            vocab[sym + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tmp = dst_l + "_src"
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(tmp, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write((" ".join(m) if isinstance(m, list) else m) + "\n")
    tok_l = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
    tok_l.save_pretrained(dst_l)
    tok_g = CLIPTokenizer.from_pretrained(tmp, model_max_length=77, pad_token="!")
    tok_g.save_pretrained(dst_g)
    # Keep the vocab.json + merges.txt form too (the other files CLIP repositories ship).
    for d in (dst_l, dst_g):
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(tmp, f), os.path.join(d, f))
    shutil.rmtree(tmp)
    return CLIPTokenizer.from_pretrained(dst_l), CLIPTokenizer.from_pretrained(dst_g)


def tokenizer_goldens(t5, clip_l, clip_g):
    strings = TRICKY + PROBES
    out = {"strings": strings, "t5": {}, "clip": {}, "clip-g": {}}
    for name, tok, max_len in (("t5", t5, 40), ("clip", clip_l, 77), ("clip-g", clip_g, 77)):
        out[name] = {
            "max_length": max_len,
            "raw": [tok(s).input_ids for s in strings],
            # exactly the pipelines' call: padding="max_length", max_length=..., truncation=True
            "padded": [tok(s, padding="max_length", max_length=max_len, truncation=True).input_ids for s in strings],
            "pad_id": tok.pad_token_id,
            "eos_id": tok.eos_token_id,
        }
    return out


def save_model(model, dst: str, shards: bool, dtype=torch.float16):
    """Stores the weights in `dtype` and leaves the model holding exactly the stored values."""
    model.to(dtype)
    if shards:
        model.save_pretrained(dst, max_shard_size="60KB")
    else:
        model.save_pretrained(dst)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/tiny-encoders")
    args = ap.parse_args()
    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    torch.manual_seed(SEED)

    t5_tok = make_t5_tokenizer(os.path.join(out, "tokenizers/t5"))
    clip_tok, clip_g_tok = make_clip_tokenizers(os.path.join(out, "tokenizers/clip"), os.path.join(out, "tokenizers/clip-g"))
    write_json(os.path.join(out, "tokenizer-golden.json"), tokenizer_goldens(t5_tok, clip_tok, clip_g_tok))

    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    t5_vocab = len(t5_tok)
    t5 = T5EncoderModel(T5Config(
        vocab_size=t5_vocab, d_model=80, d_kv=16, d_ff=96, num_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
        dropout_rate=0.0, tie_word_embeddings=False, is_encoder_decoder=False, pad_token_id=0, eos_token_id=1,
    )).eval()
    # T5's real weights have large norms; random init is small. Scale embeddings so the stream is O(10) and the
    # relative-position bias table so it visibly shapes attention.
    with torch.no_grad():
        t5.shared.weight.mul_(5.0)
        t5.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight.normal_(0, 1.0)
    save_model(t5, os.path.join(out, "t5"), shards=True)  # f16, like t5xxl_fp16.safetensors

    clip_vocab = len(clip_tok)
    eos = clip_tok.eos_token_id

    def clip_cfg(act: str, eos_rule: int, proj: int | None):
        kw = dict(
            vocab_size=clip_vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
            max_position_embeddings=77, hidden_act=act, layer_norm_eps=1e-5, bos_token_id=clip_tok.bos_token_id,
            eos_token_id=eos_rule, pad_token_id=1,
        )
        if proj:
            kw["projection_dim"] = proj
        return CLIPTextConfig(**kw)

    clip_l = CLIPTextModel(clip_cfg("quick_gelu", 2, None)).eval()
    clip_lp = CLIPTextModelWithProjection(clip_cfg("quick_gelu", 2, 40)).eval()
    clip_g = CLIPTextModelWithProjection(clip_cfg("gelu", eos, 40)).eval()
    save_model(clip_l, os.path.join(out, "clip-l"), shards=False)
    save_model(clip_lp, os.path.join(out, "clip-l-proj"), shards=False, dtype=torch.float32)
    save_model(clip_g, os.path.join(out, "clip-g"), shards=True)

    # ---- encoder goldens: fixed id sequences, float64 ------------------------------------------------------
    t5d, cld, clpd, cgd = (m.to(torch.float64) for m in (t5, clip_l, clip_lp, clip_g))
    gold = {}
    g = torch.Generator().manual_seed(SEED + 1)
    t5_inputs = {
        "prompt": t5_tok("a photo of a cat, café 42", padding="max_length", max_length=40, truncation=True).input_ids,
        # 160 tokens: relative distances beyond max_distance 128 use the last buckets
        "long": torch.randint(3, t5_vocab, (160,), generator=g).tolist(),
        "odd": torch.randint(0, t5_vocab, (7,), generator=g).tolist(),
    }
    with torch.no_grad():
        for k, ids in t5_inputs.items():
            x = torch.tensor([ids])
            gold[f"t5.{k}.ids"] = x.to(torch.int32)[0]
            gold[f"t5.{k}.hidden"] = t5d(input_ids=x).last_hidden_state[0]
        clip_prompt = clip_tok("a photo of a cat, café 42", padding="max_length", max_length=77, truncation=True).input_ids
        clip_g_prompt = clip_g_tok("a photo of a cat, café 42", padding="max_length", max_length=77, truncation=True).input_ids
        # argmax vs first-EOS: an id above EOS's (none exists in a real vocab, so use <|startoftext|>=eos-1 twice and
        # put a second EOS late) shows the two rules pick different rows.
        rule = [clip_tok.bos_token_id] + torch.randint(0, eos - 2, (20,), generator=g).tolist() + [eos] + [5] * 30 + [eos] * 25
        clip_inputs = {"prompt": clip_prompt, "rule": rule,
                       "short": [clip_tok.bos_token_id] + torch.randint(0, eos - 2, (9,), generator=g).tolist() + [eos]}
        for name, m in (("clip-l", cld), ("clip-l-proj", clpd), ("clip-g", cgd)):
            for k, ids in {**clip_inputs, **({"prompt_g": clip_g_prompt} if name == "clip-g" else {})}.items():
                x = torch.tensor([ids])
                o = m(input_ids=x, output_hidden_states=True)
                gold[f"{name}.{k}.ids"] = x.to(torch.int32)[0]
                gold[f"{name}.{k}.hidden"] = o.last_hidden_state[0]
                gold[f"{name}.{k}.penultimate"] = o.hidden_states[-2][0]
                if name == "clip-l":
                    gold[f"{name}.{k}.pooled"] = o.pooler_output[0]
                else:
                    gold[f"{name}.{k}.text_embeds"] = o.text_embeds[0]
    # float64 results stored as float32 (1e-7 relative: far below the f16 bounds the tests use) to stay small.
    save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in gold.items()}, os.path.join(out, "encoders-golden.safetensors"))

    # ---- pipeline goldens: diffusers' own encode_prompt over the same tiny components -----------------------
    from transformers import CLIPTokenizer, T5TokenizerFast
    from diffusers import FluxPipeline, StableDiffusion3Pipeline

    tl = CLIPTokenizer.from_pretrained(os.path.join(out, "tokenizers/clip"))
    tg = CLIPTokenizer.from_pretrained(os.path.join(out, "tokenizers/clip-g"))
    tt = T5TokenizerFast.from_pretrained(os.path.join(out, "tokenizers/t5"))
    flux = FluxPipeline(scheduler=None, vae=None, text_encoder=cld, tokenizer=tl, text_encoder_2=t5d, tokenizer_2=tt, transformer=None)
    sd3 = StableDiffusion3Pipeline(
        transformer=None, scheduler=None, vae=None, text_encoder=clpd, tokenizer=tl, text_encoder_2=cgd, tokenizer_2=tg,
        text_encoder_3=t5d, tokenizer_3=tt,
    )
    pipe_gold = {}
    prompts = {"p0": "a photo of a cat, café 42", "p1": TRICKY[-1]}
    with torch.no_grad():
        for k, p in prompts.items():
            pe, pooled, _ = flux.encode_prompt(prompt=p, prompt_2=None, device="cpu", max_sequence_length=48)
            pipe_gold[f"flux.{k}.txt"] = pe[0]
            pipe_gold[f"flux.{k}.pooled"] = pooled[0]
            pe, ne, pp, npool = sd3.encode_prompt(
                prompt=p, prompt_2=None, prompt_3=None, device="cpu", do_classifier_free_guidance=True,
                negative_prompt="blurry, low quality", max_sequence_length=40,
            )
            pipe_gold[f"sd3.{k}.txt"] = pe[0]
            pipe_gold[f"sd3.{k}.pooled"] = pp[0]
            pipe_gold[f"sd3.{k}.neg_txt"] = ne[0]
            pipe_gold[f"sd3.{k}.neg_pooled"] = npool[0]
    save_file({k: v.float().contiguous() for k, v in pipe_gold.items()}, os.path.join(out, "pipeline-golden.safetensors"),
              metadata={"prompts": json.dumps(prompts), "negative": "blurry, low quality",
                        "flux_max_sequence_length": "48", "sd3_max_sequence_length": "40"})

    total = 0
    for root, _, files in os.walk(out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f"wrote {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
