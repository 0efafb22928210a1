#!/usr/bin/env python3
"""PyTorch timings for the kernel benchmark cases, on the same GPU in the same run as `dit bench kernels`.

Usage: python3 bench/reference/kernels_ref.py SPEC.json OUT.json
SPEC.json comes from `node bin/dit.js bench kernels --emit-spec SPEC.json` so both sides time identical shapes.
Also measures the chip's ceilings: torch.matmul f16 at 8192^3 and device-to-device copy bandwidth.
"""
import json
import sys
import datetime
import os
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import timed  # noqa: E402

dev = 'cuda'
f16 = torch.float16


def case_fn(c):
    s = c['shape']
    op = c['op']
    if op == 'linear':
        x = torch.randn(s['M'], s['K'], device=dev, dtype=f16)
        w = torch.randn(s['N'], s['K'], device=dev, dtype=f16) * 0.02
        b = torch.randn(s['N'], device=dev, dtype=f16) * 0.02
        if s.get('gelu'):
            return (lambda: F.gelu(F.linear(x, w, b), approximate='tanh')), 'F.linear+F.gelu(tanh)'
        if s.get('gated'):
            # FLUX's gated residual update, written as diffusers does (residual + gate * linear), with our f32
            # residual stream updated in place.
            gate = torch.randn(s['N'], device=dev, dtype=torch.float32) * 0.5
            res = torch.randn(s['M'], s['N'], device=dev, dtype=torch.float32)
            return (lambda: res.add_(gate * F.linear(x, w, b))), 'F.linear, residual.add_(gate * .) (f32 residual)'
        return (lambda: F.linear(x, w, b)), 'F.linear'
    if op == 'attention':
        q, k, v = (torch.randn(s['B'], s['H'], s['S'], s['D'], device=dev, dtype=f16) for _ in range(3))
        return (lambda: F.scaled_dot_product_attention(q, k, v)), 'F.scaled_dot_product_attention'
    if op == 'layernorm_modulate':
        x = torch.randn(s['R'], s['C'], device=dev, dtype=torch.float32)
        shift = torch.randn(s['C'], device=dev, dtype=f16) * 0.1
        scale = torch.randn(s['C'], device=dev, dtype=f16) * 0.1
        return (lambda: (F.layer_norm(x, (s['C'],), eps=1e-6).to(f16) * (1 + scale) + shift)), 'F.layer_norm+modulate'
    if op == 'rmsnorm':
        x = torch.randn(s['R'], s['C'], device=dev, dtype=f16)
        w = torch.randn(s['C'], device=dev, dtype=f16)
        return (lambda: F.rms_norm(x, (s['C'],), w, eps=1e-6)), 'F.rms_norm'
    if op == 'gelu_tanh':
        x = torch.randn(s['R'], s['C'], device=dev, dtype=f16)
        return (lambda: F.gelu(x, approximate='tanh')), 'F.gelu(tanh)'
    if op == 'conv2d':
        x = torch.randn(s['B'], s['Cin'], s['H'], s['W'], device=dev, dtype=f16).to(memory_format=torch.channels_last)
        w = (torch.randn(s['Cout'], s['Cin'], 3, 3, device=dev, dtype=f16) * 0.02).to(memory_format=torch.channels_last)
        return (lambda: F.conv2d(x, w, padding=1)), 'F.conv2d channels_last'
    if op == 'groupnorm_silu':
        x = torch.randn(s['B'], s['C'], s['H'], s['W'], device=dev, dtype=f16).to(memory_format=torch.channels_last)
        w = torch.randn(s['C'], device=dev, dtype=f16)
        b = torch.randn(s['C'], device=dev, dtype=f16)
        return (lambda: F.silu(F.group_norm(x, s['groups'], w, b, eps=1e-6))), 'F.group_norm+F.silu'
    raise ValueError(f'unknown op {op}')


def main():
    spec = json.load(open(sys.argv[1]))
    torch.backends.cuda.matmul.allow_tf32 = False
    results = {}
    for c in spec:
        fn, impl = case_fn(c)
        ms = timed(fn)
        results[c['id']] = {'medianMs': ms, 'impl': impl}
        print(f"{c['id']:40s} {ms:9.3f} ms  {impl}", flush=True)
        del fn
        torch.cuda.empty_cache()
    a = torch.randn(8192, 8192, device=dev, dtype=f16)
    b = torch.randn(8192, 8192, device=dev, dtype=f16)
    peak = 2 * 8192 ** 3 / (timed(lambda: a @ b) / 1e3) / 1e12
    src = torch.empty(512 * 2 ** 20, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    copy = 2 * src.numel() / (timed(lambda: dst.copy_(src)) / 1e3) / 1e9
    out = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__,
           'date': datetime.datetime.utcnow().isoformat() + 'Z', 'matmulPeakTflops': peak, 'copyGBs': copy,
           'results': results}
    json.dump(out, open(sys.argv[2], 'w'), indent=1)
    print(f'torch.matmul f16 8192^3: {peak:.0f} TFLOP/s; copy {copy:.0f} GB/s')


if __name__ == '__main__':
    main()
