// A Vulkan instance layer that shows its caller only one physical device: the index in the environment variable
// TETRISERVE_VK_DEVICE (read at every enumeration). Dawn always takes the first adapter it finds and identical GPUs
// share a name, so this is how one process gets one Dawn device per GPU: set the variable, create the Dawn
// instance and adapter, repeat for the next GPU (src/parallel/devices.ts). Unset, it passes everything through.
//
// Built by build.mjs with the C compiler alone: the Vulkan loader-interface declarations it needs are written out in
// native/include/vk_layer_abi.h (vulkan/vk_layer.h layout), so no Vulkan headers are needed. The next layer's entry
// points are fetched inside vkCreateInstance / vkCreateDevice from the loader's link info (asking later returns our
// own entries).
#include <stdlib.h>
#include <string.h>
#include "../../include/vk_layer_abi.h"

#define VK_MAX_DEVICE_GROUP_SIZE 32

typedef struct {
  int32_t sType;
  void* pNext;
  uint32_t physicalDeviceCount;
  VkPhysicalDevice physicalDevices[VK_MAX_DEVICE_GROUP_SIZE];
  VkBool32 subsetAllocation;
} VkPhysicalDeviceGroupProperties;

typedef VkResult (*PFN_vkCreateDevice)(VkPhysicalDevice, const void*, const void*, VkDevice*);
typedef VkResult (*PFN_vkEnumeratePhysicalDevices)(VkInstance, uint32_t*, VkPhysicalDevice*);
typedef VkResult (*PFN_vkEnumeratePhysicalDeviceGroups)(VkInstance, uint32_t*, VkPhysicalDeviceGroupProperties*);

static PFN_vkGetInstanceProcAddr nextGipa;
static PFN_vkGetDeviceProcAddr nextGdpa;
static PFN_vkEnumeratePhysicalDevices nextEnumerate;
static PFN_vkEnumeratePhysicalDeviceGroups nextGroups, nextGroupsKHR;

static int wanted(void) {
  const char* e = getenv("TETRISERVE_VK_DEVICE");
  if (!e || !*e) return -1;
  return atoi(e);
}

static VkResult tsds_CreateInstance(const void* info, const void* alloc, VkInstance* out) {
  VkLayerInstanceCreateInfo* link = layerInstanceLink(info);
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  nextGipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;  // the next layer sees its own link
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)nextGipa(NULL, "vkCreateInstance");
  if (!create) return VK_ERROR_INITIALIZATION_FAILED;
  VkResult r = create(info, alloc, out);
  if (r != VK_SUCCESS) return r;
  // Here, and only here, the next layer's entries are its own (asked later, the loader hands back ours).
  nextEnumerate = (PFN_vkEnumeratePhysicalDevices)nextGipa(*out, "vkEnumeratePhysicalDevices");
  nextGroups = (PFN_vkEnumeratePhysicalDeviceGroups)nextGipa(*out, "vkEnumeratePhysicalDeviceGroups");
  nextGroupsKHR = (PFN_vkEnumeratePhysicalDeviceGroups)nextGipa(*out, "vkEnumeratePhysicalDeviceGroupsKHR");
  return nextEnumerate ? VK_SUCCESS : VK_ERROR_INITIALIZATION_FAILED;
}

static VkResult tsds_CreateDevice(VkPhysicalDevice pd, const void* info, const void* alloc, VkDevice* out) {
  VkLayerDeviceCreateInfo* link = layerDeviceLink(info);
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  nextGdpa = link->u.pLayerInfo->pfnNextGetDeviceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateDevice create = (PFN_vkCreateDevice)gipa(NULL, "vkCreateDevice");
  return create ? create(pd, info, alloc, out) : VK_ERROR_INITIALIZATION_FAILED;
}

static VkResult tsds_EnumeratePhysicalDevices(VkInstance inst, uint32_t* count, VkPhysicalDevice* devs) {
  PFN_vkEnumeratePhysicalDevices next = nextEnumerate;
  int w = wanted();
  if (w < 0) return next(inst, count, devs);
  uint32_t n = 0;
  VkResult r = next(inst, &n, NULL);
  if (r != VK_SUCCESS) return r;
  VkPhysicalDevice all[64];
  if (n > 64) n = 64;
  r = next(inst, &n, all);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return r;
  uint32_t have = (w < (int)n) ? 1 : 0;  // an index past the end shows no device (Dawn then reports none)
  if (!devs) { *count = have; return VK_SUCCESS; }
  if (*count < have) { *count = 0; return VK_INCOMPLETE; }
  if (have) devs[0] = all[w];
  *count = have;
  return VK_SUCCESS;
}

static VkResult groups(VkInstance inst, uint32_t* count, VkPhysicalDeviceGroupProperties* props, PFN_vkEnumeratePhysicalDeviceGroups next) {
  if (!next) return VK_ERROR_INITIALIZATION_FAILED;
  if (wanted() < 0) return next(inst, count, props);
  VkPhysicalDevice only;
  uint32_t one = 1;
  VkResult r = tsds_EnumeratePhysicalDevices(inst, &one, &only);
  if (r != VK_SUCCESS) return r;
  if (one == 0) { *count = 0; return VK_SUCCESS; }
  if (!props) { *count = 1; return VK_SUCCESS; }
  if (*count < 1) return VK_INCOMPLETE;
  // One group holding just the selected device (what a single-GPU machine reports).
  void* chain = props[0].pNext;
  int32_t sType = props[0].sType;
  memset(&props[0], 0, sizeof(props[0]));
  props[0].sType = sType;
  props[0].pNext = chain;
  props[0].physicalDeviceCount = 1;
  props[0].physicalDevices[0] = only;
  props[0].subsetAllocation = 0;
  *count = 1;
  return VK_SUCCESS;
}
static VkResult tsds_EnumeratePhysicalDeviceGroups(VkInstance i, uint32_t* c, VkPhysicalDeviceGroupProperties* p) { return groups(i, c, p, nextGroups); }
static VkResult tsds_EnumeratePhysicalDeviceGroupsKHR(VkInstance i, uint32_t* c, VkPhysicalDeviceGroupProperties* p) { return groups(i, c, p, nextGroupsKHR ? nextGroupsKHR : nextGroups); }

EXPORT PFN_vkVoidFunction tsds_GetDeviceProcAddr(VkDevice dev, const char* name);

EXPORT PFN_vkVoidFunction tsds_GetInstanceProcAddr(VkInstance inst, const char* name) {
  if (!strcmp(name, "vkGetInstanceProcAddr")) return (PFN_vkVoidFunction)tsds_GetInstanceProcAddr;
  if (!strcmp(name, "vkGetDeviceProcAddr")) return (PFN_vkVoidFunction)tsds_GetDeviceProcAddr;
  if (!strcmp(name, "vkCreateInstance")) return (PFN_vkVoidFunction)tsds_CreateInstance;
  if (!strcmp(name, "vkCreateDevice")) return (PFN_vkVoidFunction)tsds_CreateDevice;
  if (!strcmp(name, "vkEnumeratePhysicalDevices")) return (PFN_vkVoidFunction)tsds_EnumeratePhysicalDevices;
  if (!strcmp(name, "vkEnumeratePhysicalDeviceGroups")) return (PFN_vkVoidFunction)tsds_EnumeratePhysicalDeviceGroups;
  if (!strcmp(name, "vkEnumeratePhysicalDeviceGroupsKHR")) return (PFN_vkVoidFunction)tsds_EnumeratePhysicalDeviceGroupsKHR;
  return nextGipa ? nextGipa(inst, name) : NULL;
}

EXPORT PFN_vkVoidFunction tsds_GetDeviceProcAddr(VkDevice dev, const char* name) {
  if (!strcmp(name, "vkGetDeviceProcAddr")) return (PFN_vkVoidFunction)tsds_GetDeviceProcAddr;
  return nextGdpa ? nextGdpa(dev, name) : NULL;
}
