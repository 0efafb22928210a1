# Sourced by the GPU-machine scripts. `on_gpu K` puts what the calling (sub)shell starts on GPU K of a multi-GPU
# machine: Dawn through the device-select Vulkan layer built in native/nccl-bridge/build (one Dawn device per GPU;
# the layer's name is src/parallel/devices.ts's LAYER_NAME), PyTorch through CUDA_VISIBLE_DEVICES.
ON_GPU_LAYER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/native/nccl-bridge/build/"
on_gpu() {
  export CUDA_VISIBLE_DEVICES=$1 VK_LAYER_PATH=$ON_GPU_LAYER_DIR VK_INSTANCE_LAYERS=VK_LAYER_TETRISERVE_device_select TETRISERVE_VK_DEVICE=$1
}
