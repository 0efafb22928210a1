// Diagnostic (docs/serving.md, "Event-loop blocks"): what waiting on a Dawn promise costs the JS thread.
// Submits a long compute job and either awaits onSubmittedWorkDone at once ("pending": dawn.node re-arms a
// setImmediate that calls ProcessEvents every event-loop turn until the promise settles) or sleeps through most
// of the job first ("sleep", 0.85 of the fastest calibration run, as the serving workers do). Prints, per mode:
// wall time, event-loop utilisation and GC pauses. ~10 s. Usage: node scripts/dawn-wait-churn.mjs [s per job, default 1]
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const target = Number(process.argv[2] ?? 1) * 1000;
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice();
const mk = (iters) => {
  const code = `@group(0) @binding(0) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  var x = b[id.x]; for (var i = 0u; i < ${iters}u; i++) { x = x * 1.0000001 + 0.000001; } b[id.x] = x; }`;
  return device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
};
const buf = device.createBuffer({ size: 4 * 64 * 4096, usage: GPUBufferUsage.STORAGE });
let pipe, bg, groups = 64;
const submit = () => {
  const e = device.createCommandEncoder();
  const p = e.beginComputePass();
  p.setPipeline(pipe); p.setBindGroup(0, bg); p.dispatchWorkgroups(groups); p.end();
  device.queue.submit([e.finish()]);
};
const time = async () => { const t = performance.now(); submit(); await device.queue.onSubmittedWorkDone(); return performance.now() - t; };
// Calibrate the job to ~target ms (a slow adapter: more iterations per invocation; a fast one: more workgroups too).
let iters = 1000;
pipe = mk(iters); bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
let ms = await time();
while (ms < target / 2) {
  if (iters < 4_000_000) iters = Math.min(4_000_000, Math.ceil(iters * Math.min(16, target / Math.max(ms, 0.05))));
  else if (groups < 4096) groups = Math.min(4096, groups * 8);
  else break;
  pipe = mk(iters); bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
  ms = await time();
}
ms = Math.min(await time(), await time(), await time());
const gcs = [];
const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push(e.duration); });
obs.observe({ entryTypes: ['gc'] });
for (const mode of ['pending', 'sleep', 'pending', 'sleep']) {
  gcs.length = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  for (let k = 0; k < 3; k++) {
    submit();
    if (mode === 'sleep') await new Promise((r) => setTimeout(r, 0.85 * ms));
    await device.queue.onSubmittedWorkDone();
  }
  await new Promise((r) => setImmediate(r));
  const wall = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  console.log(`${mode.padEnd(7)} 3 jobs of ~${ms.toFixed(0)} ms: wall ${wall.toFixed(0)} ms, event-loop utilisation ${(elu.utilization * 100).toFixed(0)}%, GC pauses ${gcs.length} (${gcs.reduce((a, b) => a + b, 0).toFixed(1)} ms)`);
}
obs.disconnect();
device.destroy();
process.exit(0);
