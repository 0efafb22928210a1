// The part of the Vulkan loader/layer interface our layers use (layouts of vulkan_core.h and vk_layer.h on 64-bit
// Linux), written out so the layers build with the C compiler alone, without Vulkan headers. Shared by
// native/nccl-bridge/src/vk_device_select.c and native/vk-pipeline-stats/vk_pipeline_stats.c.
#ifndef TETRISERVE_VK_LAYER_ABI_H
#define TETRISERVE_VK_LAYER_ABI_H
#include <stdint.h>

typedef int32_t VkResult;
typedef uint32_t VkBool32;
typedef struct VkInstance_T* VkInstance;
typedef struct VkPhysicalDevice_T* VkPhysicalDevice;
typedef struct VkDevice_T* VkDevice;
typedef void (*PFN_vkVoidFunction)(void);
typedef PFN_vkVoidFunction (*PFN_vkGetInstanceProcAddr)(VkInstance, const char*);
typedef PFN_vkVoidFunction (*PFN_vkGetDeviceProcAddr)(VkDevice, const char*);
typedef struct { int32_t sType; const void* pNext; } VkBaseInStructure;

#define VK_SUCCESS 0
#define VK_INCOMPLETE 5
#define VK_ERROR_INITIALIZATION_FAILED (-3)
#define VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO 47
#define VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO 48
#define VK_LAYER_LINK_INFO 0

typedef struct VkLayerInstanceLink_ {
  struct VkLayerInstanceLink_* pNext;
  PFN_vkGetInstanceProcAddr pfnNextGetInstanceProcAddr;
  void* pfnNextGetPhysicalDeviceProcAddr;
} VkLayerInstanceLink;
typedef struct {
  int32_t sType;
  const void* pNext;
  int32_t function;
  union { VkLayerInstanceLink* pLayerInfo; void* other; } u;
} VkLayerInstanceCreateInfo;
typedef struct VkLayerDeviceLink_ {
  struct VkLayerDeviceLink_* pNext;
  PFN_vkGetInstanceProcAddr pfnNextGetInstanceProcAddr;
  PFN_vkGetDeviceProcAddr pfnNextGetDeviceProcAddr;
} VkLayerDeviceLink;
typedef struct {
  int32_t sType;
  const void* pNext;
  int32_t function;
  union { VkLayerDeviceLink* pLayerInfo; void* other; } u;
} VkLayerDeviceCreateInfo;

typedef VkResult (*PFN_vkCreateInstance)(const void*, const void*, VkInstance*);

// The loader's link entries in a vkCreateInstance / vkCreateDevice create-info chain (NULL when absent). A layer takes
// the next layer's entry points from them and advances pLayerInfo, so the next layer sees its own link.
static inline VkLayerInstanceCreateInfo* layerInstanceLink(const void* createInfo) {
  VkLayerInstanceCreateInfo* link = (VkLayerInstanceCreateInfo*)((const VkBaseInStructure*)createInfo)->pNext;
  while (link && !(link->sType == VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO && link->function == VK_LAYER_LINK_INFO)) {
    link = (VkLayerInstanceCreateInfo*)link->pNext;
  }
  return link;
}
static inline VkLayerDeviceCreateInfo* layerDeviceLink(const void* createInfo) {
  VkLayerDeviceCreateInfo* link = (VkLayerDeviceCreateInfo*)((const VkBaseInStructure*)createInfo)->pNext;
  while (link && !(link->sType == VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO && link->function == VK_LAYER_LINK_INFO)) {
    link = (VkLayerDeviceCreateInfo*)link->pNext;
  }
  return link;
}

#define EXPORT __attribute__((visibility("default")))
#endif
