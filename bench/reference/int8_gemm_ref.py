#!/usr/bin/env python3
"""PyTorch beside bench/int8-gemm.ts, same GPU, same run: F.linear in f16 and bf16 (cuBLAS) and torch._int_mm
(int8 x int8 -> int32, cuBLASLt) at the same shapes, plus a W8A8 linear written in PyTorch eager (per-row absmax
quantization of x, _int_mm, the two scales applied in f32): what our quantizer + int8 GEMM does, with PyTorch's
launches.

Usage: python3 bench/reference/int8_gemm_ref.py SPEC.json OUT.json   (SPEC.json: int8-gemm.ts's torch-int8-spec.json)
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


def quant_rows(t):
    s = t.abs().amax(dim=1, keepdim=True).float() / 127.0
    q = torch.clamp(torch.round(t.float() / s.clamp_min(1e-30)), -127, 127).to(torch.int8)
    return q, s


def main():
    spec = json.load(open(sys.argv[1]))
    out = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'date': datetime.datetime.utcnow().isoformat(), 'results': []}
    for c in spec:
        M, K, N = c['M'], c['K'], c['N']
        flops = 2 * M * N * K
        x = torch.randn(M, K, device=dev, dtype=torch.float16)
        w = torch.randn(N, K, device=dev, dtype=torch.float16) / K ** 0.5
        xb, wb = x.bfloat16(), w.bfloat16()
        xq, xs = quant_rows(x)
        wq, ws = quant_rows(w)
        wqt = wq.t()  # _int_mm wants [K, N]; a transposed view of the [N, K] weight, as nn.Linear stores it

        def w8a8():
            q, s = quant_rows(x)
            return (torch._int_mm(q, wqt).float() * s * ws.t()).half()

        ref = (x.float() @ w.float().t())
        rel = ((w8a8().float() - ref).norm() / ref.norm()).item()
        for name, fn in [('F.linear f16', lambda: F.linear(x, w)), ('F.linear bf16', lambda: F.linear(xb, wb)),
                         ('torch._int_mm int8', lambda: torch._int_mm(xq, wqt)), ('W8A8 eager (quantize + _int_mm + scales)', w8a8)]:
            ms = timed(fn)
            r = {'id': c['id'], 'M': M, 'K': K, 'N': N, 'op': name, 'ms': ms, 'tflops': flops / ms / 1e9}
            if name.startswith('W8A8'):
                r['relErrVsF32'] = rel
            out['results'].append(r)
            print(f"{c['id']:16s} {name:42s} {ms:8.3f} ms {flops / ms / 1e9:7.1f} TFLOP/s", flush=True)
    json.dump(out, open(sys.argv[2], 'w'), indent=1)


if __name__ == '__main__':
    main()
