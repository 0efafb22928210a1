// The native pieces build here (no GPU, no CUDA/NCCL headers) and fail cleanly: the bridge loads and reports a
// missing NCCL/CUDA as an error value, the NCCL transport refuses with NcclUnavailableError, and the Vulkan
// device-select layer gives one Dawn device per index (lavapipe has one: index 1 finds none).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openGpu } from '../../src/parallel/devices.js';
import { loadBridgeModule, NcclGroup, NcclUnavailableError, probeNccl } from '../../src/parallel/nccl.js';
import { errorCodeOf } from '../../src/util/errors.js';

describe('native/nccl-bridge', () => {
  execFileSync(process.execPath, ['native/nccl-bridge/build.mjs']);

  it('loads and reports whether NCCL and CUDA are usable, without throwing', () => {
    const p = probeNccl();
    if (p.ok) {
      expect(p.ncclVersion).toBeGreaterThan(20000); // a GPU machine with NCCL 2.x
    } else {
      expect(p.error).toMatch(/NCCL not found|CUDA runtime not found|cudaGetDeviceCount/);
      expect(() => new NcclGroup([0, 1])).toThrow(NcclUnavailableError);
      expect(() => loadBridgeModule().commInitAll([0, 1])).toThrow(/nccl-bridge: (NCCL not found|CUDA runtime not found)/);
    }
  });

  it('copies host memory on native threads (the transport between Dawn devices without CUDA)', async () => {
    const src = new Uint8Array(9 << 20).map((_, i) => (i * 7 + 3) & 255);
    const dst = new Uint8Array(src.length);
    await loadBridgeModule().hostCopy(dst, src);
    expect(Buffer.compare(dst, src)).toBe(0);
    expect(() => loadBridgeModule().hostCopy(new Uint8Array(4), src)).toThrow(/destination smaller/);
  });

  it('rejects malformed exchange arguments with a message', () => {
    expect(() => loadBridgeModule().exchange(12345, [])).toThrow(/unknown communicator/);
  });
});

describe('Vulkan device-select layer', () => {
  it('index 0 opens a device; an index past the last GPU finds none, with a clear error', async () => {
    const a = await openGpu(0);
    expect(a.caps.adapterName.length).toBeGreaterThan(0);
    const e = (await openGpu(63).catch((err: unknown) => err)) as Error;
    expect(e.message).toMatch(/^GPU 63: .*no Vulkan adapter/s);
    expect(errorCodeOf(e)).toBe('NO_ADAPTER'); // exit 6 / HTTP 503, not an internal error
    a.destroy();
  }, 60_000);
});
