"""Independent cross-check of the golden files, in NumPy only (runs without PyTorch, e.g. on the CPU dev box).

    python3 bench/reference/check_numpy.py [--models test/fixtures/tiny-models] [--golden test/golden]

It re-implements both models a second way -- FLUX in diffusers' FluxTransformer2DModel form (separate q/k/v,
norm_out chunks (scale, shift), RoPE as complex multiplication), SD3 with diffusers' PatchEmbed grid built by
np.meshgrid(grid_w, grid_h) and unpatchify by einsum -- reads the checkpoints with its own safetensors parser, and
compares with `output.*` of each golden. The BFL-only checkpoint (schnell) goes through an independent
BFL -> diffusers split. Agreement (relL2 < 1e-5; the goldens are f32) means the torch reference, its name
converter and this reading of the diffusers code are consistent with each other.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

# ------------------------------------------------------------------------------------------------ safetensors


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a : base + b]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif dt == "F64":
            arr = np.frombuffer(raw, dtype="<f8").copy()
        else:
            raise ValueError(f"{path}: dtype {dt} of {name} not handled")
        out[name] = arr.reshape(info["shape"])
    return out


def read_diffusers_folder(folder: str) -> tuple[dict, dict[str, np.ndarray]]:
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    tensors: dict[str, np.ndarray] = {}
    idx = [n for n in os.listdir(folder) if n.endswith(".index.json")]
    if idx:
        with open(os.path.join(folder, idx[0])) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = [n for n in os.listdir(folder) if n.endswith(".safetensors")]
    for fn in files:
        tensors.update(read_safetensors(os.path.join(folder, fn)))
    return config, tensors


# ------------------------------------------------------------------------------------------------ primitives


def lin(W, name, x):
    y = x @ W[name + ".weight"].T
    b = W.get(name + ".bias")
    return y + b if b is not None else y


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def ln(x, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def rms(x, w, eps=1e-6):
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * w


def time_proj(t, dim=256):
    """diffusers get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0): [cos, sin]."""
    half = dim // 2
    e = np.exp(-math.log(10000) * np.arange(half) / half)
    a = np.asarray(t, dtype=np.float64)[:, None] * e[None]
    s, c = np.sin(a), np.cos(a)
    return np.concatenate([c, s], axis=-1)


def mlp2(W, prefix, x):
    return lin(W, prefix + ".linear_2", silu(lin(W, prefix + ".linear_1", x)))


def attend(q, k, v):
    """Per-head loop; q,k,v [L, H, D] -> [L, H*D]."""
    L, H, D = q.shape
    out = np.empty((L, H, D))
    for h in range(H):
        s = q[:, h] @ k[:, h].T / math.sqrt(D)
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(-1, keepdims=True)
        out[:, h] = p @ v[:, h]
    return out.reshape(L, H * D)


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ------------------------------------------------------------------------------------------------ FLUX (diffusers form)


def bfl_to_diffusers_np(B: dict, hidden: int) -> dict:
    """Split BFL fused tensors into diffusers names (written independently of flux_ref.bfl_to_diffusers)."""
    D = {}
    ren = {
        "img_in": "x_embedder", "txt_in": "context_embedder",
        "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
        "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
        "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
        "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
        "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
        "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
        "final_layer.linear": "proj_out",
    }
    for k, v in B.items():
        stem, kind = k.rsplit(".", 1)
        if stem in ren:
            D[f"{ren[stem]}.{kind}"] = v
        elif stem == "final_layer.adaLN_modulation.1":
            shift, scale = np.split(v, 2, axis=0)
            D[f"norm_out.linear.{kind}"] = np.concatenate([scale, shift], axis=0)
        elif k.startswith("double_blocks."):
            _, i, rest = k.split(".", 2)
            p = f"transformer_blocks.{i}."
            simple = {
                "img_mod.lin": "norm1.linear", "txt_mod.lin": "norm1_context.linear",
                "img_attn.proj": "attn.to_out.0", "txt_attn.proj": "attn.to_add_out",
                "img_mlp.0": "ff.net.0.proj", "img_mlp.2": "ff.net.2",
                "txt_mlp.0": "ff_context.net.0.proj", "txt_mlp.2": "ff_context.net.2",
                "img_attn.norm.query_norm": "attn.norm_q", "img_attn.norm.key_norm": "attn.norm_k",
                "txt_attn.norm.query_norm": "attn.norm_added_q", "txt_attn.norm.key_norm": "attn.norm_added_k",
            }
            rstem, kind = rest.rsplit(".", 1)
            if rstem in simple:
                D[p + simple[rstem] + "." + ("weight" if kind == "scale" else kind)] = v
            elif rstem == "img_attn.qkv":
                for n, part in zip(("to_q", "to_k", "to_v"), np.split(v, 3, axis=0)):
                    D[p + f"attn.{n}.{kind}"] = part
            elif rstem == "txt_attn.qkv":
                for n, part in zip(("add_q_proj", "add_k_proj", "add_v_proj"), np.split(v, 3, axis=0)):
                    D[p + f"attn.{n}.{kind}"] = part
            else:
                raise KeyError(k)
        elif k.startswith("single_blocks."):
            _, i, rest = k.split(".", 2)
            p = f"single_transformer_blocks.{i}."
            rstem, kind = rest.rsplit(".", 1)
            if rstem == "linear1":
                q, kk, vv, m = np.split(v, [hidden, 2 * hidden, 3 * hidden], axis=0)
                for n, part in (("attn.to_q", q), ("attn.to_k", kk), ("attn.to_v", vv), ("proj_mlp", m)):
                    D[p + f"{n}.{kind}"] = part
            elif rstem == "linear2":
                D[p + f"proj_out.{kind}"] = v
            elif rstem == "modulation.lin":
                D[p + f"norm.linear.{kind}"] = v
            elif rstem == "norm.query_norm":
                D[p + "attn.norm_q.weight"] = v
            elif rstem == "norm.key_norm":
                D[p + "attn.norm_k.weight"] = v
            else:
                raise KeyError(k)
        else:
            raise KeyError(k)
    return D


def rope_complex(x, ids, axes, theta=10000):
    """x [L, H, D]: pairs (2j, 2j+1) as complex numbers times exp(i*pos*freq), axis blocks in order."""
    z = x[..., 0::2] + 1j * x[..., 1::2]
    angles = []
    for a, d in enumerate(axes):
        freqs = 1.0 / theta ** (np.arange(0, d, 2) / d)
        angles.append(ids[:, a : a + 1] * freqs[None])
    ang = np.concatenate(angles, axis=1)  # [L, D/2]
    z = z * np.exp(1j * ang)[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = z.real
    out[..., 1::2] = z.imag
    return out


def flux_diffusers_forward(W, heads, axes, img, txt, pooled, t, guidance, img_ids, txt_ids):
    hidden = W["x_embedder.weight"].shape[0]
    hd = hidden // heads
    x = lin(W, "x_embedder", img)
    temb = mlp2(W, "time_text_embed.timestep_embedder", time_proj([t * 1000]))
    if "time_text_embed.guidance_embedder.linear_1.weight" in W:
        temb = temb + mlp2(W, "time_text_embed.guidance_embedder", time_proj([guidance * 1000]))
    temb = (temb + mlp2(W, "time_text_embed.text_embedder", pooled[None]))[0]
    c = lin(W, "context_embedder", txt)
    ids = np.concatenate([txt_ids, img_ids], axis=0)
    Lt = c.shape[0]

    def heads_of(v):
        return v.reshape(v.shape[0], heads, hd)

    i = 0
    while f"transformer_blocks.{i}.norm1.linear.weight" in W:
        p = f"transformer_blocks.{i}."
        m = np.split(lin(W, p + "norm1.linear", silu(temb)), 6)
        cm = np.split(lin(W, p + "norm1_context.linear", silu(temb)), 6)
        nx = ln(x) * (1 + m[1]) + m[0]
        nc = ln(c) * (1 + cm[1]) + cm[0]
        q = rms(heads_of(lin(W, p + "attn.to_q", nx)), W[p + "attn.norm_q.weight"])
        k = rms(heads_of(lin(W, p + "attn.to_k", nx)), W[p + "attn.norm_k.weight"])
        v = heads_of(lin(W, p + "attn.to_v", nx))
        cq = rms(heads_of(lin(W, p + "attn.add_q_proj", nc)), W[p + "attn.norm_added_q.weight"])
        ck = rms(heads_of(lin(W, p + "attn.add_k_proj", nc)), W[p + "attn.norm_added_k.weight"])
        cv = heads_of(lin(W, p + "attn.add_v_proj", nc))
        Q = rope_complex(np.concatenate([cq, q]), ids, axes)
        K = rope_complex(np.concatenate([ck, k]), ids, axes)
        o = attend(Q, K, np.concatenate([cv, v]))
        x = x + m[2] * lin(W, p + "attn.to_out.0", o[Lt:])
        x = x + m[5] * lin(W, p + "ff.net.2", gelu_tanh(lin(W, p + "ff.net.0.proj", ln(x) * (1 + m[4]) + m[3])))
        c = c + cm[2] * lin(W, p + "attn.to_add_out", o[:Lt])
        c = c + cm[5] * lin(W, p + "ff_context.net.2", gelu_tanh(lin(W, p + "ff_context.net.0.proj", ln(c) * (1 + cm[4]) + cm[3])))
        i += 1
    h = np.concatenate([c, x])
    i = 0
    while f"single_transformer_blocks.{i}.norm.linear.weight" in W:
        p = f"single_transformer_blocks.{i}."
        shift, scale, gate = np.split(lin(W, p + "norm.linear", silu(temb)), 3)
        nh = ln(h) * (1 + scale) + shift
        mlp = gelu_tanh(lin(W, p + "proj_mlp", nh))
        q = rope_complex(rms(heads_of(lin(W, p + "attn.to_q", nh)), W[p + "attn.norm_q.weight"]), ids, axes)
        k = rope_complex(rms(heads_of(lin(W, p + "attn.to_k", nh)), W[p + "attn.norm_k.weight"]), ids, axes)
        o = attend(q, k, heads_of(lin(W, p + "attn.to_v", nh)))
        h = h + gate * lin(W, p + "proj_out", np.concatenate([o, mlp], axis=1))
        i += 1
    x = h[Lt:]
    scale, shift = np.split(lin(W, "norm_out.linear", silu(temb)), 2)
    return lin(W, "proj_out", ln(x) * (1 + scale) + shift)


# ------------------------------------------------------------------------------------------------ SD3 (diffusers form)


def sd3_pos_table(embed_dim, grid_size, base_size):
    grid_h = np.arange(grid_size, dtype=np.float64) / (grid_size / base_size)
    grid_w = np.arange(grid_size, dtype=np.float64) / (grid_size / base_size)
    grid = np.stack(np.meshgrid(grid_w, grid_h), axis=0).reshape(2, 1, grid_size, grid_size)

    def one_d(d, pos):
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_d(embed_dim // 2, grid[0]), one_d(embed_dim // 2, grid[1])], axis=1)


def sd3_diffusers_forward(cfg, W, latents, ehs, pooled, timestep):
    C, H, Wd = latents.shape
    p = cfg["patch_size"]
    heads, hd = cfg["num_attention_heads"], cfg["attention_head_dim"]
    hidden = heads * hd
    h, w = H // p, Wd // p
    # Conv2d(kernel = stride = p) evaluated patch by patch.
    kw = W["pos_embed.proj.weight"]
    x = np.empty((h * w, hidden))
    for r in range(h):
        for col in range(w):
            patch = latents[:, r * p : (r + 1) * p, col * p : (col + 1) * p]
            x[r * w + col] = np.tensordot(kw, patch, axes=([1, 2, 3], [0, 1, 2])) + W["pos_embed.proj.bias"]
    n = cfg["pos_embed_max_size"]
    table = W["pos_embed.pos_embed"][0] if "pos_embed.pos_embed" in W else sd3_pos_table(hidden, n, cfg["sample_size"] // p)
    top, left = (n - h) // 2, (n - w) // 2
    x = x + table.reshape(n, n, hidden)[top : top + h, left : left + w].reshape(h * w, hidden)
    temb = (mlp2(W, "time_text_embed.timestep_embedder", time_proj([timestep])) + mlp2(W, "time_text_embed.text_embedder", pooled[None]))[0]
    c = lin(W, "context_embedder", ehs)
    L = cfg["num_layers"]
    dual_layers = set(cfg.get("dual_attention_layers") or [])

    def hs(v):
        return v.reshape(v.shape[0], heads, hd)

    def qkv(prefix, inp, names, norms):
        q, k, v = (hs(lin(W, prefix + n, inp)) for n in names)
        if prefix + norms[0] + ".weight" in W:
            q, k = rms(q, W[prefix + norms[0] + ".weight"]), rms(k, W[prefix + norms[1] + ".weight"])
        return q, k, v

    for i in range(L):
        b = f"transformer_blocks.{i}."
        e = lin(W, b + "norm1.linear", silu(temb))
        dual = i in dual_layers
        chunks = np.split(e, 9 if dual else 6)
        nx0 = ln(x)
        nx = nx0 * (1 + chunks[1]) + chunks[0]
        if i == L - 1:
            sc, sh = np.split(lin(W, b + "norm1_context.linear", silu(temb)), 2)
            nc = ln(c) * (1 + sc) + sh
        else:
            cc = np.split(lin(W, b + "norm1_context.linear", silu(temb)), 6)
            nc = ln(c) * (1 + cc[1]) + cc[0]
        q, k, v = qkv(b + "attn.", nx, ("to_q", "to_k", "to_v"), ("norm_q", "norm_k"))
        cq, ck, cv = qkv(b + "attn.", nc, ("add_q_proj", "add_k_proj", "add_v_proj"), ("norm_added_q", "norm_added_k"))
        o = attend(np.concatenate([q, cq]), np.concatenate([k, ck]), np.concatenate([v, cv]))
        x = x + chunks[2] * lin(W, b + "attn.to_out.0", o[: h * w])
        if dual:
            nx2 = nx0 * (1 + chunks[7]) + chunks[6]
            q2, k2, v2 = qkv(b + "attn2.", nx2, ("to_q", "to_k", "to_v"), ("norm_q", "norm_k"))
            x = x + chunks[8] * lin(W, b + "attn2.to_out.0", attend(q2, k2, v2))
        x = x + chunks[5] * lin(W, b + "ff.net.2", gelu_tanh(lin(W, b + "ff.net.0.proj", ln(x) * (1 + chunks[4]) + chunks[3])))
        if i != L - 1:
            c = c + cc[2] * lin(W, b + "attn.to_add_out", o[h * w :])
            c = c + cc[5] * lin(W, b + "ff_context.net.2", gelu_tanh(lin(W, b + "ff_context.net.0.proj", ln(c) * (1 + cc[4]) + cc[3])))
    sc, sh = np.split(lin(W, "norm_out.linear", silu(temb)), 2)
    y = lin(W, "proj_out", ln(x) * (1 + sc) + sh)
    out_c = cfg.get("out_channels") or cfg["in_channels"]
    y = np.einsum("nhwpqc->nchpwq", y.reshape(1, h, w, p, p, out_c))
    return y.reshape(out_c, h * p, w * p)


# ------------------------------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="test/fixtures/tiny-models")
    ap.add_argument("--golden", default="test/golden")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    results = {}

    for name, model_path, bfl in (
        ("flux-tiny", "flux-tiny-diffusers/transformer", False),
        ("flux-tiny", "flux-tiny/flux1-tiny.safetensors", True),
        ("flux-tiny-schnell", "flux-tiny-schnell/flux1-tiny-schnell.safetensors", True),
    ):
        G = read_safetensors(os.path.join(args.golden, f"{name}.safetensors"))
        full = os.path.join(args.models, model_path)
        if bfl:
            B = read_safetensors(full)
            hidden = B["img_in.weight"].shape[0]
            W = bfl_to_diffusers_np(B, hidden)
            hd = B["single_blocks.0.norm.query_norm.scale"].shape[0]
            heads, axes = hidden // hd, [hd // 8, 7 * hd // 16, 7 * hd // 16]
        else:
            cfg, W = read_diffusers_folder(full)
            heads, axes = cfg["num_attention_heads"], cfg["axes_dims_rope"]
        out = flux_diffusers_forward(
            W, heads, axes, G["input.img"][0], G["input.txt"][0], G["input.y"][0], float(G["input.timesteps"][0]),
            float(G["input.guidance"][0]) if "input.guidance" in G else None, G["input.img_ids"][0], G["input.txt_ids"][0],
        )
        results[f"{name} <- {model_path}"] = rel_l2(out, G["output.velocity_packed"][0])

    for name in ("sd3-tiny", "sd35-tiny"):
        G = read_safetensors(os.path.join(args.golden, f"{name}.safetensors"))
        cfg, W = read_diffusers_folder(os.path.join(args.models, name, "transformer"))
        out = sd3_diffusers_forward(
            cfg, W, G["input.latents"][0], G["input.encoder_hidden_states"][0], G["input.pooled_projections"][0],
            float(G["input.timestep"][0]),
        )
        results[f"{name} <- {name}/transformer"] = rel_l2(out, G["output.velocity"][0])

    ok = True
    for k, v in results.items():
        status = "ok" if v < args.tol else "MISMATCH"
        ok = ok and v < args.tol
        print(f"{status:8s} relL2 {v:.3e}  {k}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
