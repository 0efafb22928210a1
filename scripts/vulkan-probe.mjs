#!/usr/bin/env node
// Asks Dawn (the engine's own WebGPU) whether a usable Vulkan adapter exists: one that offers shader-f16, which
// the engine needs. Exit 0 and print the adapter when there is one; exit 3 when there is none; exit 4 when the
// probe itself cannot run (node_modules missing). Looking at driver files on disk is not enough: a driver can be
// installed but too old for Dawn (Mesa < 25 lavapipe), or present but unreadable for this user.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let webgpu;
try {
  webgpu = require('webgpu');
} catch {
  console.error('vulkan-probe: the npm package "webgpu" is not installed; run `npm ci` first');
  process.exit(4);
}
if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
Object.assign(globalThis, webgpu.globals);
const instance = webgpu.create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
let adapter = null;
try {
  adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
} catch {
  adapter = null;
}
if (!adapter) {
  console.log('no Vulkan adapter');
  process.exit(3);
}
const name = adapter.info.description || adapter.info.device || adapter.info.architecture || adapter.info.vendor;
if (!adapter.features.has('shader-f16')) {
  console.log(`adapter '${name}' lacks shader-f16`);
  process.exit(3);
}
console.log(`adapter '${name}'`);
process.exit(0); // Dawn keeps the event loop alive
