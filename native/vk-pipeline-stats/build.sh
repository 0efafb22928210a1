#!/usr/bin/env bash
# Builds the diagnostics layer (vk_pipeline_stats.c) and its manifest into native/vk-pipeline-stats/build/ with the C
# compiler alone (no Vulkan headers). Use: VK_LAYER_PATH=native/vk-pipeline-stats/build
# VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_pipeline_stats TETRISERVE_PIPELINE_STATS=stats.jsonl <command>
# (bench/pipeline-stats.ts does this for the kernels it reports). Not part of the install: a bench tool.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/build"
"${CC:-gcc}" -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -o "$here/build/libvk_pipeline_stats.so" "$here/vk_pipeline_stats.c" -lpthread
cat > "$here/build/vk_pipeline_stats.json" <<'JSON'
{
  "file_format_version": "1.1.2",
  "layer": {
    "name": "VK_LAYER_TETRISERVE_pipeline_stats",
    "type": "GLOBAL",
    "library_path": "./libvk_pipeline_stats.so",
    "api_version": "1.3.0",
    "implementation_version": "1",
    "description": "Captures VK_KHR_pipeline_executable_properties statistics of every compute pipeline into $TETRISERVE_PIPELINE_STATS",
    "functions": {
      "vkGetInstanceProcAddr": "tsps_GetInstanceProcAddr",
      "vkGetDeviceProcAddr": "tsps_GetDeviceProcAddr"
    }
  }
}
JSON
