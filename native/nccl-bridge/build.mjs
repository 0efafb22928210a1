#!/usr/bin/env node
// Builds the native pieces of sequence parallelism with the C/C++ compiler already on the machine, from this
// repository's files only (nothing is downloaded):
//  - build/nccl_bridge.node: the NCCL bridge (Node-API headers from the node-api-headers package, or Node's own);
//  - build/libvk_device_select.so + manifest: the Vulkan layer that gives each Dawn device its own GPU;
//  - build/fd_capture.node: captures native stdout/stderr around Dawn calls that print warnings with no hook
//    (src/gpu/native-output.ts); without it the CLI works but shows Dawn's benign warnings.
// None needs CUDA, NCCL or Vulkan headers (they load/declare what they use), so this runs on machines without
// GPUs too. A missing compiler is a warning, never a failed install: the engine then runs single-GPU.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build');
const quiet = !process.argv.includes('--verbose');
const force = process.argv.includes('--force');
const cxx = process.env.CXX || 'g++';
const cc = process.env.CC || 'gcc';

function napiInclude() {
  try {
    const req = createRequire(import.meta.url);
    const dir = dirname(req.resolve('node-api-headers/package.json'));
    if (existsSync(join(dir, 'include', 'node_api.h'))) return join(dir, 'include');
  } catch {}
  for (const d of [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']) {
    if (existsSync(join(d, 'node_api.h'))) return d;
  }
  return null;
}

function stale(target, sources) {
  if (force || !existsSync(target)) return true;
  const t = statSync(target).mtimeMs;
  return sources.some((s) => statSync(s).mtimeMs > t);
}

function run(cmd, args) {
  if (!quiet) console.log([cmd, ...args].join(' '));
  execFileSync(cmd, args, { stdio: quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit' });
}

function warn(what, e, effect = 'sequence parallelism across GPUs stays off; single-GPU is unaffected') {
  const msg = (e?.stderr?.toString() || e?.message || String(e)).trim().split('\n').slice(0, 8).join('\n');
  console.warn(`[native] ${what} was not built (${effect}):\n${msg}`);
}

mkdirSync(out, { recursive: true });
let failed = false;

const bridgeSrc = join(here, 'src', 'bridge.cc');
const bridge = join(out, 'nccl_bridge.node');
const inc = napiInclude();
if (!inc) {
  warn('the NCCL bridge', new Error('no Node-API headers (node-api-headers package or Node include dir)'));
  failed = true;
} else if (stale(bridge, [bridgeSrc])) {
  try {
    run(cxx, ['-O2', '-std=c++17', '-fPIC', '-shared', '-Wall', '-Wno-unused-function', `-I${inc}`, '-DNODE_GYP_MODULE_NAME=nccl_bridge', '-DNAPI_VERSION=8', bridgeSrc, '-o', bridge, '-ldl', '-lpthread']);
  } catch (e) {
    warn('the NCCL bridge', e);
    failed = true;
  }
}

const captureSrc = join(here, 'src', 'fd_capture.c');
const capture = join(out, 'fd_capture.node');
const captureEffect = "Dawn's benign adapter warnings will print on stderr; everything else is unaffected";
if (!inc) {
  warn('the output-capture addon', new Error('no Node-API headers (node-api-headers package or Node include dir)'), captureEffect);
  failed = true;
} else if (stale(capture, [captureSrc])) {
  try {
    run(cc, ['-O2', '-fPIC', '-shared', '-Wall', `-I${inc}`, '-DNODE_GYP_MODULE_NAME=fd_capture', '-DNAPI_VERSION=8', captureSrc, '-o', capture, '-pthread']);
  } catch (e) {
    warn('the output-capture addon', e, captureEffect);
    failed = true;
  }
}

const layerSrc = join(here, 'src', 'vk_device_select.c');
const layer = join(out, 'libvk_device_select.so');
if (stale(layer, [layerSrc, join(here, '..', 'include', 'vk_layer_abi.h')])) {
  try {
    run(cc, ['-O2', '-fPIC', '-shared', '-Wall', layerSrc, '-o', layer]);
  } catch (e) {
    warn('the Vulkan device-select layer', e);
    failed = true;
  }
}
writeFileSync(
  join(out, 'vk_device_select.json'),
  JSON.stringify({
    file_format_version: '1.1.2',
    layer: {
      name: 'VK_LAYER_TETRISERVE_device_select', type: 'GLOBAL', library_path: './libvk_device_select.so', api_version: '1.3.0',
      implementation_version: '1', description: 'Shows Dawn only the GPU named by TETRISERVE_VK_DEVICE (one Dawn device per GPU in one process)',
      functions: { vkGetInstanceProcAddr: 'tsds_GetInstanceProcAddr', vkGetDeviceProcAddr: 'tsds_GetDeviceProcAddr' },
    },
  }, null, 2) + '\n',
);
if (!quiet || failed) console.log(`[native] ${failed ? 'partial build' : 'built'} in ${out}`);
