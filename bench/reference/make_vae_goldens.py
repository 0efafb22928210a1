"""Tiny random AutoencoderKL checkpoints and float64 goldens for the VAE family (src/models/vae/).

    PYTHONPATH=/work/diffusers-src/src /work/pyref/bin/python bench/reference/make_vae_goldens.py --out test/fixtures

Writes, for each tiny config, test/fixtures/tiny-vae-<name>/:
  vae/config.json + vae/diffusion_pytorch_model.safetensors   saved by diffusers' own save_pretrained (fp16)
  golden.safetensors   float32 tensors computed in float64 from exactly the stored weights:
    input.latents   [1, C, h, w]   latents in the DiT's space (what a sampler hands the VAE)
    output.image    [1, 3, 8h', ...] decoder(latents / scaling_factor + shift_factor)  (FLUX/SD3 pipelines)
    input.image     [1, 3, H, W]   image in [-1, 1]
    output.mean / output.logvar    the encoder's diagonal Gaussian (logvar clamped to [-30, 20] as diffusers)
    output.latents  (mean - shift_factor) * scaling_factor          (the img2img pipelines, mode instead of sample)
and for the FLUX-like config also (plus ae-names-wide.json: the same for block_out_channels [32, 64], names only)
  ae-names.json   BFL ae.safetensors name -> [diffusers name, BFL shape]: the names BFL's flux/modules/autoencoder.py
                  gives this config, checked here against diffusers' own converter (convert_ldm_vae_checkpoint), so
                  the TypeScript test can write a BFL-layout file with names that do not come from our own mapping.

Weights are random (not diffusers' init, whose zero biases and unit norms would hide mistakes) and rounded so
every value is exact in both bf16 and f16 (the BFL file the test writes is bf16, the diffusers folder fp16).
Sizes are odd on purpose (latents 5x7 etc., images 27x37 etc.).
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from safetensors.torch import save_file

from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

CONFIGS = {
    # FLUX.1's VAE at toy width: 16 latent channels, scaling/shift from FLUX.1's vae/config.json, no quant convs,
    # 32 groups (BFL's AttnBlock/ResnetBlock hard-code 32, so the BFL layout needs channels divisible by 32). Width
    # 32 throughout keeps the file small; ae-names-wide.json covers BFL's names for a channel change (nin_shortcut).
    "flux": dict(
        config=dict(block_out_channels=[32, 32, 32], layers_per_block=1, latent_channels=16, norm_num_groups=32,
                    scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False,
                    sample_size=64),
        latent_hw=(5, 7), image_hw=(27, 37), seed=11,
    ),
    # SD3's VAE: 16 latent channels, scaling 1.5305, shift 0.0609, no quant convs; 8 groups, 2 layers per block.
    "sd3": dict(
        config=dict(block_out_channels=[16, 32], layers_per_block=2, latent_channels=16, norm_num_groups=8,
                    scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False, use_post_quant_conv=False,
                    sample_size=32),
        latent_hw=(6, 3), image_hw=(19, 12), seed=12,
    ),
    # SD 1.x-style: 4 latent channels, quant_conv / post_quant_conv present, no shift_factor in the config.
    "sd": dict(
        config=dict(block_out_channels=[16, 16, 32], layers_per_block=1, latent_channels=4, norm_num_groups=4,
                    scaling_factor=0.18215, use_quant_conv=True, use_post_quant_conv=True, sample_size=32),
        latent_hw=(4, 9), image_hw=(30, 17), seed=13,
    ),
}


def exact_bf16_f16(t: torch.Tensor) -> torch.Tensor:
    """Round to bf16, drop values f16 would store as subnormals (they would not be exact there)."""
    r = t.to(torch.bfloat16).to(torch.float32)
    r[r.abs() < 6.2e-5] = 0
    assert torch.equal(r.to(torch.float16).to(torch.float32), r)
    return r


def randomise(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if p.ndim > 1:  # conv / linear weight: keep activations O(1) through the depth
                fan_in = p[0].numel()
                v = n * (1.2 / fan_in**0.5)
            elif "norm" in name and name.endswith("weight"):
                v = 1 + 0.2 * n
            else:
                v = 0.1 * n
            p.copy_(exact_bf16_f16(v.float()))


def bfl_names(cfg: dict, sd: dict[str, torch.Tensor]) -> dict[str, tuple[str, list[int]]]:
    """BFL autoencoder.py names for this config (module tree written out by hand from that file), each mapped to
    the diffusers name it must convert to. Attention q/k/v/proj_out are 1x1 Conv2d there ([C, C, 1, 1])."""
    n_levels = len(cfg["block_out_channels"])
    L = cfg["layers_per_block"]
    out: dict[str, tuple[str, list[int]]] = {}

    def add(bfl: str, diff: str, conv1x1: bool = False) -> None:
        for suffix in ("weight", "bias"):
            shape = list(sd[f"{diff}.{suffix}"].shape)
            if conv1x1 and suffix == "weight":
                shape = shape + [1, 1]
            out[f"{bfl}.{suffix}"] = (f"{diff}.{suffix}", shape)

    def resnet(bfl: str, diff: str) -> None:
        for a, b in (("norm1", "norm1"), ("conv1", "conv1"), ("norm2", "norm2"), ("conv2", "conv2")):
            add(f"{bfl}.{a}", f"{diff}.{b}")
        if f"{diff}.conv_shortcut.weight" in sd:
            add(f"{bfl}.nin_shortcut", f"{diff}.conv_shortcut")

    def mid(side: str) -> None:
        resnet(f"{side}.mid.block_1", f"{side}.mid_block.resnets.0")
        resnet(f"{side}.mid.block_2", f"{side}.mid_block.resnets.1")
        a, d = f"{side}.mid.attn_1", f"{side}.mid_block.attentions.0"
        add(f"{a}.norm", f"{d}.group_norm")
        for x, y in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")):
            add(f"{a}.{x}", f"{d}.{y}", conv1x1=True)

    add("encoder.conv_in", "encoder.conv_in")
    for i in range(n_levels):
        for j in range(L):
            resnet(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}")
        if i != n_levels - 1:
            add(f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv")
    mid("encoder")
    add("encoder.norm_out", "encoder.conv_norm_out")
    add("encoder.conv_out", "encoder.conv_out")
    add("decoder.conv_in", "decoder.conv_in")
    mid("decoder")
    for i_level in range(n_levels):  # BFL up[i_level] runs last-to-first: diffusers up_blocks[n-1-i_level]
        d = n_levels - 1 - i_level
        for j in range(L + 1):
            resnet(f"decoder.up.{i_level}.block.{j}", f"decoder.up_blocks.{d}.resnets.{j}")
        if i_level != 0:
            add(f"decoder.up.{i_level}.upsample.conv", f"decoder.up_blocks.{d}.upsamplers.0.conv")
    add("decoder.norm_out", "decoder.conv_norm_out")
    add("decoder.conv_out", "decoder.conv_out")
    return out


def check_bfl_names(cfg: dict, sd: dict[str, torch.Tensor], names: dict) -> None:
    """diffusers' converter must turn a BFL-named copy of sd back into sd exactly, with no name left over."""
    bfl = {}
    for b, (d, shape) in names.items():
        bfl[b] = sd[d].reshape(shape)
    conv_cfg = dict(cfg, down_block_types=["DownEncoderBlock2D"] * len(cfg["block_out_channels"]),
                    up_block_types=["UpDecoderBlock2D"] * len(cfg["block_out_channels"]))
    back = convert_ldm_vae_checkpoint(bfl, conv_cfg)
    assert set(back) == set(sd), (sorted(set(back) ^ set(sd)))[:10]
    for k in sd:
        assert torch.equal(back[k].reshape(sd[k].shape), sd[k]), k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures")
    args = ap.parse_args()
    for name, spec in CONFIGS.items():
        cfg = spec["config"]
        n = len(cfg["block_out_channels"])
        model = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n, **cfg)
        randomise(model, spec["seed"])
        root = os.path.join(args.out, f"tiny-vae-{name}")
        model.to(torch.float16).save_pretrained(os.path.join(root, "vae"), safe_serialization=True)
        # Reload what was saved: the golden comes from the stored bytes.
        ref = AutoencoderKL.from_pretrained(os.path.join(root, "vae"), torch_dtype=torch.float16).to(torch.float64).eval()
        sf = ref.config.scaling_factor
        sh = ref.config.shift_factor or 0.0
        g = torch.Generator().manual_seed(1000 + spec["seed"])
        C = cfg["latent_channels"]
        h, w = spec["latent_hw"]
        latents = torch.randn(1, C, h, w, generator=g, dtype=torch.float64).float().double()
        H, W = spec["image_hw"]
        image = (torch.rand(1, 3, H, W, generator=g, dtype=torch.float64) * 2 - 1).float().double()
        with torch.no_grad():
            dec = ref.decode(latents / sf + sh).sample
            post = ref.encode(image).latent_dist
        gold = {
            "input.latents": latents, "output.image": dec, "input.image": image,
            "output.mean": post.mean, "output.logvar": post.logvar, "output.latents": (post.mean - sh) * sf,
        }
        save_file({k: v.float().contiguous() for k, v in gold.items()}, os.path.join(root, "golden.safetensors"),
                  metadata={"scaling_factor": str(sf), "shift_factor": str(sh)})
        sd = {k: v.float() for k, v in ref.state_dict().items()}
        if name == "flux":
            names = bfl_names(cfg, sd)
            check_bfl_names(cfg, sd, names)
            with open(os.path.join(root, "ae-names.json"), "w") as f:
                json.dump({b: [d, s] for b, (d, s) in names.items()}, f, indent=0)
            # Names only, for a width change between levels (nin_shortcut); weights not stored (size).
            wide = dict(cfg, block_out_channels=[32, 64])
            wm = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, **wide)
            wsd = {k: v.float() for k, v in wm.state_dict().items()}
            wnames = bfl_names(wide, wsd)
            check_bfl_names(wide, wsd, wnames)
            assert any("nin_shortcut" in k for k in wnames)
            with open(os.path.join(root, "ae-names-wide.json"), "w") as f:
                json.dump({"config": wide, "names": {b: [d, s] for b, (d, s) in wnames.items()}}, f, indent=0)
        print(f"{name}: {sum(v.numel() for v in sd.values())} params, latents {list(latents.shape)} -> image "
              f"{list(dec.shape)} std {dec.std():.3f}; image {list(image.shape)} -> mean {list(post.mean.shape)} "
              f"std {post.mean.std():.3f}")


if __name__ == "__main__":
    main()
