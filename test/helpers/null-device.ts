// Dawn's Null backend: a device that offers subgroup matrices without hardware and runs the same WGSL front end
// (Tint) as a GPU, so shaders' compiler messages can be checked on any machine, lavapipe CI included. Compile
// only: the Null device runs nothing.
import { create } from 'webgpu';
import { quietDawnStdout } from '../../src/gpu/native-output.js';

export interface NullDevice {
  device: GPUDevice;
  /** Held: a collected Dawn instance makes dawn.node abort (GPU-NOTES). */
  instance: GPU;
}

export async function openNullSubgroupMatrixDevice(): Promise<NullDevice> {
  const instance = create(['enable-dawn-features=allow_unsafe_apis', 'backend=null']) as unknown as GPU;
  const adapter = await instance.requestAdapter();
  if (!adapter) throw new Error("Dawn's Null backend gave no adapter");
  const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix' as GPUFeatureName] });
  return { device, instance };
}

/** Every message (error, warning, info) Tint gives for the shader; dawn.node's stdout copy is kept out of the log. */
export async function compilerMessages(device: GPUDevice, code: string): Promise<readonly GPUCompilationMessage[]> {
  return (await quietDawnStdout(() => device.createShaderModule({ code })).getCompilationInfo()).messages;
}
