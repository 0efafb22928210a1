#!/usr/bin/env python3
"""A tiny T5 encoder GGUF in llama.cpp's layout, for the T5-GGUF loading test: test/fixtures/quant/t5-tiny-Q8_0.gguf.

Written with the `gguf` package's GGUFWriter from the tiny T5 v1.1 encoder test/fixtures/tiny-encoders/t5 the way
llama.cpp's convert_hf_to_gguf.py (T5EncoderModel) writes T5 (city96's t5-v1_1-xxl-encoder-*.gguf are such files):
general.architecture "t5encoder", the t5encoder.* hyper-parameters, llama.cpp tensor names (token_embd,
enc.blk.N.attn_q / attn_k / attn_v / attn_o / attn_rel_b / attn_norm / ffn_gate / ffn_up / ffn_down / ffn_norm,
enc.output_norm), 1-D tensors in F32, 2-D weights in Q8_0 (gguf.quants.quantize) where their rows are whole
32-value blocks and F16 otherwise (what the converter does for rows it cannot quantize). The tiny model has
d_model 80, so only attn_o (rows of 64) and ffn_down (rows of 96) are Q8_0.

Also writes t5-tiny-Q8_0-ref.safetensors: gguf.quants.dequantize of each Q8_0 tensor under its transformers name
plus '.f16' (numpy's f16 rounding of it: what the loader must produce in either weights mode).

Run: /work/pyref/bin/python bench/reference/make_t5_gguf.py
"""
import json
import os

import numpy as np
from safetensors.numpy import load_file, save_file
import gguf
from gguf import GGMLQuantizationType as T

SRC = "test/fixtures/tiny-encoders/t5"
OUT = "test/fixtures/quant"

BLOCK = {
    "layer.0.layer_norm": "attn_norm", "layer.0.SelfAttention.q": "attn_q", "layer.0.SelfAttention.k": "attn_k",
    "layer.0.SelfAttention.v": "attn_v", "layer.0.SelfAttention.o": "attn_o",
    "layer.0.SelfAttention.relative_attention_bias": "attn_rel_b", "layer.1.layer_norm": "ffn_norm",
    "layer.1.DenseReluDense.wi_0": "ffn_gate", "layer.1.DenseReluDense.wi_1": "ffn_up", "layer.1.DenseReluDense.wo": "ffn_down",
}


def llama_name(hf: str) -> str:
    if hf == "shared.weight":
        return "token_embd.weight"
    if hf == "encoder.final_layer_norm.weight":
        return "enc.output_norm.weight"
    parts = hf.split(".")
    assert parts[0] == "encoder" and parts[1] == "block", hf
    rest = ".".join(parts[3:-1])
    return f"enc.blk.{parts[2]}.{BLOCK[rest]}.weight"


def main() -> None:
    cfg = json.load(open(os.path.join(SRC, "config.json")))
    tensors = {}
    for fn in sorted(os.listdir(SRC)):
        if fn.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(SRC, fn)))
    w = gguf.GGUFWriter(os.path.join(OUT, "t5-tiny-Q8_0.gguf"), "t5encoder")
    w.add_context_length(512)
    w.add_embedding_length(cfg["d_model"])
    w.add_feed_forward_length(cfg["d_ff"])
    w.add_block_count(cfg["num_layers"])
    w.add_head_count(cfg["num_heads"])
    w.add_key_length(cfg["d_kv"])
    w.add_value_length(cfg["d_kv"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_layer_norm_rms_eps(cfg["layer_norm_epsilon"])
    w.add_relative_attn_buckets_count(cfg["relative_attention_num_buckets"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    ref = {}
    for hf in sorted(tensors):
        x = tensors[hf].astype(np.float32)
        name = llama_name(hf)
        if x.ndim == 1:
            data, qt = x, T.F32
        elif x.shape[-1] % 32 == 0 and "token_embd" not in name:
            data, qt = gguf.quants.quantize(x, T.Q8_0), T.Q8_0
        else:
            data, qt = x.astype(np.float16), T.F16
        w.add_tensor(name, data, raw_dtype=qt)
        if qt == T.Q8_0:
            ref[hf + ".f16"] = gguf.quants.dequantize(data, qt).reshape(x.shape).astype(np.float32).astype(np.float16)
        print(f"{name:32s} <- {hf:60s} {qt.name} {list(x.shape)}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(ref, os.path.join(OUT, "t5-tiny-Q8_0-ref.safetensors"))


if __name__ == "__main__":
    main()
