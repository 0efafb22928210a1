#!/usr/bin/env bash
# Sequence parallelism on a 2-GPU machine (nvidia-h200-x2), non-interactive, < 8 minutes. Everything lands in $OUT.
# Run from the project root with .gpu/ packed (bash ../shared/device/pack.sh):
#   source .gpu/env.sh && bash scripts/gpu-sp.sh
# Phases: build (tsc + native bridge/layer with the machine's g++/gcc), probe (NCCL, CUDA devices, one Dawn device
# per GPU through the Vulkan layer, nvidia-smi topology), tests (test/parallel on the GPU), bench (dit bench sp:
# raw exchanges, FLUX.1-dev at 256-2048² on 1 and 2 GPUs, Ulysses/ring over NCCL and shared memory, switch costs,
# measured latency profile; the target resolutions first, so a time limit cuts the small ones). Pick phases as
# arguments (default: all).
source .gpu/env.sh 2>/dev/null || true
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=/tmp
export NCCL_NVLS_ENABLE=0
export UV_THREADPOOL_SIZE=16  # bridge exchanges and threaded host copies run on libuv's pool
export CUDA_DEVICE_ORDER=PCI_BUS_ID  # CUDA device i = Vulkan device i (both in PCI order)
# The bridge dlopens libcudart and libnccl.so.2; CUDA's runtime often lives outside the loader's path.
if ! ldconfig -p 2>/dev/null | grep -q 'libcudart.so'; then
  for f in /usr/local/cuda/lib64/libcudart.so* /usr/local/cuda-*/lib64/libcudart.so* /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so*; do
    [ -f "$f" ] && { export TETRISERVE_CUDART_PATH=$f; break; }
  done
  python3 -c 'import nvidia.cuda_runtime, os; d = os.path.join(nvidia.cuda_runtime.__path__[0], "lib"); print(os.path.join(d, sorted(f for f in os.listdir(d) if f.startswith("libcudart.so"))[-1]))' > /tmp/cudart.path 2>/dev/null \
    && [ -z "${TETRISERVE_CUDART_PATH:-}" ] && export TETRISERVE_CUDART_PATH=$(cat /tmp/cudart.path)
fi
echo "cudart: ${TETRISERVE_CUDART_PATH:-from the loader path}"
phases=${*:-build probe tests bounce bench}
t_start=$(date +%s)
left() { echo $(( 470 - ($(date +%s) - t_start) )); }
# `dit bench sp`, or the same command registered on its own if the rest of the CLI does not load (other work in
# progress must not cost this run). Decided after the build phase.
SP_ENTRY="import { Command } from 'commander'; import { registerSpBench } from './dist/bench/sp-bench.js';
const p = new Command('dit'); registerSpBench(p.command('bench'));
await p.parseAsync(['node', 'dit', 'bench', 'sp', ...process.argv.slice(1)]);"
sp_cmd() {
  if node bin/dit.js bench sp --help > /dev/null 2>&1; then SP=(node bin/dit.js bench sp); else SP=(node --input-type=module -e "$SP_ENTRY" --); echo "(dit CLI does not load; running bench sp on its own)"; fi
}
for phase in $phases; do
  echo "=== $phase $(date -u +%FT%TZ) ($(left) s left)"
  case "$phase" in
    build)
      node node_modules/typescript/bin/tsc -p tsconfig.json > "$OUT/tsc.log" 2>&1 || { echo "tsc failed"; tail -20 "$OUT/tsc.log"; }
      node native/nccl-bridge/build.mjs --force --verbose 2>&1 | tee "$OUT/native-build.log" ;;
    probe)
      nvidia-smi topo -m > "$OUT/topo.txt" 2>&1
      nvidia-smi --query-gpu=index,name,memory.total,pci.bus_id --format=csv >> "$OUT/topo.txt" 2>&1
      timeout 120 node --input-type=module -e "
        import { probeNccl } from './dist/parallel/nccl.js';
        import { openGpus } from './dist/parallel/devices.js';
        const p = probeNccl();
        const ctxs = await openGpus(2, { robustness: false }).catch((e) => { console.log('openGpus failed:', e.message); return []; });
        const out = { nccl: p, dawn: ctxs.map((c) => c.caps.adapterName) };
        console.log(JSON.stringify(out));
        for (const c of ctxs) c.destroy();
      " 2>&1 | grep -v Warning | tee "$OUT/probe.json"
      nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv >> "$OUT/topo.txt" 2>&1 ;;
    tests)
      timeout 150 node node_modules/vitest/vitest.mjs run test/parallel/sp-attention.test.ts test/parallel/sp-models.test.ts test/parallel/native-bridge.test.ts 2>&1 | tee "$OUT/sp-tests.log" | grep -E "Test Files|Tests |FAIL|✓ test|❯ test|×" ;;
    bounce)
      # The same raw exchanges with Dawn staging NOT registered with CUDA (the bridge's pinned bounce buffer):
      # says what cudaHostRegister of Dawn's mapped memory buys, or whether it is refused.
      sp_cmd
      TETRISERVE_NCCL_REGISTER=0 timeout 90 "${SP[@]}" --resolutions "" --degrees 1,2 --transports nccl \
        --transfer-mib 64,256 --out "$OUT/bounce" 2>&1 | grep -v -E "Warning|deprecated" | tee "$OUT/sp-bounce.log" ;;
    bench)
      sp_cmd
      timeout $(( $(left) > 60 ? $(left) : 60 )) "${SP[@]}" --resolutions 1024,2048,512,256 --degrees 1,2 --reps 3 \
        --transports nccl,shm --transfer-mib 8,64,256 --out "$OUT" --profile "$OUT/flux1-dev-h200x2-sp.json" 2>&1 \
        | grep -v -E "Warning|deprecated" | tee "$OUT/sp-bench.log" ;;
    *) echo "unknown phase $phase" ;;
  esac
done
echo "=== done in $(( $(date +%s) - t_start )) s; files in $OUT:"; ls -la "$OUT"
