# Reference timing for docs/attention.md: torch scaled_dot_product_attention at the attention benchmark's
# shapes (B=1, H=24, D=128; FLUX 512^2 / 1024^2 / 2048^2 incl. 512 text tokens), f16 and bf16, median of
# CUDA-event timings over 12 reps after 3 warm-ups. flops = 4*B*H*S*S*D, as in attention-bench.ts.
import json, sys, datetime
import torch
import torch.nn.functional as F

H, D, REPS = 24, 128, 12
rows = []
print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; date {datetime.datetime.utcnow().isoformat()}Z")
for S in (1024 + 512, 4096 + 512, 16384 + 512):
    for dtype in (torch.float16, torch.bfloat16):
        q, k, v = (torch.randn(1, H, S, D, device="cuda", dtype=dtype) for _ in range(3))
        for _ in range(3):
            F.scaled_dot_product_attention(q, k, v)
        times = []
        for _ in range(REPS):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            F.scaled_dot_product_attention(q, k, v)
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        ms = sorted(times)[len(times) // 2]
        row = {"S": S, "dtype": str(dtype).replace("torch.", ""), "medianMs": round(ms, 4), "tflops": round(4 * H * S * S * D / (ms * 1e-3) / 1e12, 1)}
        print(json.dumps(row))
        rows.append(row)
if len(sys.argv) > 1:
    json.dump(rows, open(f"{sys.argv[1]}/attention-sdpa.json", "w"), indent=1)
