#!/usr/bin/env python3
"""Goldens for quantized checkpoint loading (fp8 safetensors, GGUF block formats): small files written by the
reference tools themselves, plus the reference tools' own dequantization, under test/fixtures/quant/.

Run locally (CPU): /work/pyref/bin/python bench/reference/make_quant_goldens.py [--out test/fixtures/quant]
Needs torch >= 2.1 (float8_e4m3fn / float8_e5m2), safetensors, numpy and the `gguf` package (llama.cpp's).

Files:
  fp8.safetensors        F8_E4M3 / F8_E5M2 tensors: every one of the 256 codes of each format, and "scaled"
                         weights with ComfyUI's per-tensor scales (`<layer>.scale_weight` + the `scaled_fp8`
                         marker, and the newer `<layer>.weight_scale` spelling), odd shapes.
  fp8-ref.safetensors    torch's dequantization of each: `<name>.f32` = w.float() * scale (exact in f32) and
                         `<name>.f16` = that value .to(float16) (round to nearest even).
  blocks.gguf            GGUFWriter output (version 3, default alignment 32): Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 tensors made
                         by gguf.quants.quantize from random data, Q4_K/Q5_K/Q6_K tensors from random block bytes
                         (the package has no K-quant quantizer; any byte pattern with finite d/dmin is a valid
                         block, and random bytes cover every scale/min/high-bit combination), F16/BF16/F32, odd
                         shapes and ranks 1..3 (GGUF stores dims innermost-first: the reader must reverse them).
  blocks-align.gguf      a second file with general.alignment = 64 and a comfy.gguf.orig_shape override.
  blocks-ref.safetensors gguf.quants.dequantize of every tensor, reshaped to the torch shape: `<name>.f32`, and
                         `<name>.f16` = numpy's float16 rounding of it (round to nearest even).
"""
import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES


def fp8_files(out: str, rng: np.random.Generator) -> None:
    q, ref = {}, {}
    for name, dt in (("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
        codes = torch.arange(256, dtype=torch.uint8).view(dt).reshape(16, 16)
        q[f"codes_{name}.weight"] = codes
        ref[f"codes_{name}.weight.f32"] = codes.float()
        ref[f"codes_{name}.weight.f16"] = codes.to(torch.float16)
    # ComfyUI legacy scaled fp8: a `scaled_fp8` marker tensor and a float32 scalar `<layer>.scale_weight` per weight.
    q["scaled_fp8"] = torch.zeros(2, dtype=torch.float8_e4m3fn)
    layers = [("scaled_a", torch.float8_e4m3fn, (7, 33), "scale_weight", 0.0123),
              ("scaled_b", torch.float8_e5m2, (5, 19), "scale_weight", 3.75e-4),
              ("scaled_c", torch.float8_e4m3fn, (3, 11), "weight_scale", 61.0)]  # large scale: values beyond 448
    for layer, dt, shape, spelling, scale in layers:
        w = torch.from_numpy(rng.standard_normal(shape).astype(np.float32) * 100).to(dt)
        s = torch.tensor(scale, dtype=torch.float32)
        q[f"{layer}.weight"] = w
        q[f"{layer}.{spelling}"] = s
        deq = w.float() * s
        ref[f"{layer}.weight.f32"] = deq
        ref[f"{layer}.weight.f16"] = deq.to(torch.float16)
    q["plain_bias"] = torch.from_numpy(rng.standard_normal(5).astype(np.float32))
    save_file(q, os.path.join(out, "fp8.safetensors"), metadata={"made_by": "bench/reference/make_quant_goldens.py"})
    save_file(ref, os.path.join(out, "fp8-ref.safetensors"))


def k_blocks(qtype: T, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Random K-quant blocks with finite f16 super-block scales (some subnormal), as uint8 [n_blocks, bytes]."""
    _, size = GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    d = (rng.standard_normal(n_blocks) * 0.01).astype(np.float16)
    dmin = (np.abs(rng.standard_normal(n_blocks)) * 0.005).astype(np.float16)
    d[0] = np.float16(3e-6)  # an f16 subnormal super-block scale
    if qtype == T.Q6_K:
        b[:, 208:210] = d.view(np.uint8).reshape(n_blocks, 2)
    else:
        b[:, 0:2] = d.view(np.uint8).reshape(n_blocks, 2)
        b[:, 2:4] = dmin.view(np.uint8).reshape(n_blocks, 2)
    return b


def gguf_files(out: str, rng: np.random.Generator) -> None:
    tensors = []  # (name, torch shape, qtype, stored array)
    for qtype, shape in ((T.Q8_0, (3, 96)), (T.Q4_0, (5, 64)), (T.Q4_1, (3, 160)), (T.Q5_0, (2, 3, 32)),
                         (T.Q5_1, (3, 96)), (T.F16, (3, 7)), (T.F32, (11,)), (T.BF16, (5, 9))):
        data = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        data.flat[0] = 0.0
        if qtype == T.BF16:
            stored = gguf.quants.quantize(data, qtype)
        else:
            stored = gguf.quants.quantize(data, qtype)
        tensors.append((f"{qtype.name.lower()}.weight", shape, qtype, stored))
    for qtype, rows, blocks_per_row in ((T.Q4_K, 3, 2), (T.Q5_K, 2, 1), (T.Q6_K, 3, 1)):
        b = k_blocks(qtype, rows * blocks_per_row, rng)
        tensors.append((f"{qtype.name.lower()}.weight", (rows, 256 * blocks_per_row), qtype, b.reshape(rows, -1)))

    ref = {}
    w = gguf.GGUFWriter(os.path.join(out, "blocks.gguf"), arch="flux")
    w.add_string("general.name", "tetriserve quant goldens")
    w.add_array("test.ints", [1, 2, 3])
    w.add_float32("test.f32", 0.5)
    w.add_bool("test.flag", True)
    for name, shape, qtype, stored in tensors:
        w.add_tensor(name, stored, raw_dtype=qtype)
        deq = gguf.quants.dequantize(stored, qtype).astype(np.float32).reshape(shape)
        ref[f"{name}.f32"] = torch.from_numpy(np.ascontiguousarray(deq))
        ref[f"{name}.f16"] = torch.from_numpy(np.ascontiguousarray(deq.astype(np.float16)))
        ref[f"{name}.type"] = torch.tensor([int(qtype)], dtype=torch.int32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Custom alignment and a ComfyUI-GGUF original-shape override ([4, 64] stored flat as 256 elements).
    w = gguf.GGUFWriter(os.path.join(out, "blocks-align.gguf"), arch="flux")
    w.add_custom_alignment(64)
    data = (rng.standard_normal((4, 64)) * 0.05).astype(np.float32)
    stored = gguf.quants.quantize(data.reshape(256), T.Q8_0)
    w.add_array("comfy.gguf.orig_shape.reshaped.weight", [4, 64])
    w.add_tensor("first.bias", (rng.standard_normal(3) * 0.1).astype(np.float32), raw_dtype=T.F32)
    w.add_tensor("reshaped.weight", stored, raw_dtype=T.Q8_0)
    ref["reshaped.weight.f32"] = torch.from_numpy(gguf.quants.dequantize(stored, T.Q8_0).reshape(4, 64).copy())
    ref["reshaped.weight.f16"] = ref["reshaped.weight.f32"].to(torch.float16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(ref, os.path.join(out, "blocks-ref.safetensors"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/quant")
    ap.add_argument("--seed", type=int, default=1616)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    fp8_files(a.out, rng)
    gguf_files(a.out, rng)
    sizes = {f: os.path.getsize(os.path.join(a.out, f)) for f in sorted(os.listdir(a.out))}
    print(json.dumps({"torch": torch.__version__, "gguf": getattr(gguf, "__version__", "?"), "bytes": sizes}, indent=1))


if __name__ == "__main__":
    main()
