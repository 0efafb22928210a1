// A Vulkan device layer for kernel diagnostics: it enables VK_KHR_pipeline_executable_properties on every device it
// can, asks the driver to capture statistics (and internal representations, where the driver has them) for every
// compute pipeline, and writes one JSON line per pipeline to the file named by TETRISERVE_PIPELINE_STATS: the
// driver's statistics for each executable (on NVIDIA: registers per invocation, shared memory, ...), the SPIR-V size,
// workgroup size and a hash of the module, written when the pipeline is created; and a line {"pipeline", "label"}
// when Dawn names it after its WebGPU label (Dawn's `use_user_defined_labels_in_backend` toggle + VK_EXT_debug_utils):
// the reader joins the two by the pipeline handle. Dawn gives no access to any of this; it is what docs/attention.md
// and docs/matmul.md cite for what limits a kernel's occupancy. Unset TETRISERVE_PIPELINE_STATS: everything passes
// through untouched.
//
// Built by build.sh with the C compiler alone: the loader-interface declarations come from
// native/include/vk_layer_abi.h (shared with native/nccl-bridge/src/vk_device_select.c), the few others are written
// out below (vulkan_core.h layouts, 64-bit Linux).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "../include/vk_layer_abi.h"

typedef uint64_t VkPipeline;
typedef uint64_t VkShaderModule;

#define ST_FEATURES_PIPELINE_EXECUTABLE 1000269000
#define ST_PIPELINE_INFO 1000269001
#define ST_EXECUTABLE_PROPERTIES 1000269002
#define ST_EXECUTABLE_INFO 1000269003
#define ST_EXECUTABLE_STATISTIC 1000269004
#define ST_EXECUTABLE_INTERNAL_REPRESENTATION 1000269005
#define CAPTURE_STATISTICS 0x40u
#define CAPTURE_INTERNAL_REPRESENTATIONS 0x80u
#define OBJECT_TYPE_PIPELINE 19
#define EXT_NAME "VK_KHR_pipeline_executable_properties"

typedef struct {
  int32_t sType;
  const void* pNext;
  uint32_t flags;
  uint32_t queueCreateInfoCount;
  const void* pQueueCreateInfos;
  uint32_t enabledLayerCount;
  const char* const* ppEnabledLayerNames;
  uint32_t enabledExtensionCount;
  const char* const* ppEnabledExtensionNames;
  const void* pEnabledFeatures;
} VkDeviceCreateInfo;
typedef struct { int32_t sType; void* pNext; VkBool32 pipelineExecutableInfo; } VkFeaturesPipelineExecutable;
typedef struct { char extensionName[256]; uint32_t specVersion; } VkExtensionProperties;
typedef struct {
  int32_t sType; const void* pNext; uint32_t flags; int32_t stage; VkShaderModule module; const char* pName; const void* pSpecializationInfo;
} VkPipelineShaderStageCreateInfo;
typedef struct {
  int32_t sType; const void* pNext; uint32_t flags; VkPipelineShaderStageCreateInfo stage; uint64_t layout; VkPipeline basePipelineHandle; int32_t basePipelineIndex;
} VkComputePipelineCreateInfo;
typedef struct { int32_t sType; const void* pNext; uint32_t flags; size_t codeSize; const uint32_t* pCode; } VkShaderModuleCreateInfo;
typedef struct { int32_t sType; const void* pNext; VkPipeline pipeline; } VkPipelineInfoKHR;
typedef struct { int32_t sType; void* pNext; uint32_t stages; char name[256]; char description[256]; uint32_t subgroupSize; } VkPipelineExecutablePropertiesKHR;
typedef struct { int32_t sType; const void* pNext; VkPipeline pipeline; uint32_t executableIndex; } VkPipelineExecutableInfoKHR;
typedef struct {
  int32_t sType; void* pNext; char name[256]; char description[256]; int32_t format;
  union { VkBool32 b32; int64_t i64; uint64_t u64; double f64; } value;
} VkPipelineExecutableStatisticKHR;
typedef struct {
  int32_t sType; void* pNext; char name[256]; char description[256]; VkBool32 isText; size_t dataSize; void* pData;
} VkPipelineExecutableInternalRepresentationKHR;
typedef struct { int32_t sType; const void* pNext; int32_t objectType; uint64_t objectHandle; const char* pObjectName; } VkDebugUtilsObjectNameInfoEXT;

typedef VkResult (*PFN_vkCreateDevice)(VkPhysicalDevice, const VkDeviceCreateInfo*, const void*, VkDevice*);
typedef VkResult (*PFN_vkEnumerateDeviceExtensionProperties)(VkPhysicalDevice, const char*, uint32_t*, VkExtensionProperties*);
typedef VkResult (*PFN_vkCreateComputePipelines)(VkDevice, uint64_t, uint32_t, const VkComputePipelineCreateInfo*, const void*, VkPipeline*);
typedef VkResult (*PFN_vkCreateShaderModule)(VkDevice, const VkShaderModuleCreateInfo*, const void*, VkShaderModule*);
typedef VkResult (*PFN_vkGetPipelineExecutableProperties)(VkDevice, const VkPipelineInfoKHR*, uint32_t*, VkPipelineExecutablePropertiesKHR*);
typedef VkResult (*PFN_vkGetPipelineExecutableStatistics)(VkDevice, const VkPipelineExecutableInfoKHR*, uint32_t*, VkPipelineExecutableStatisticKHR*);
typedef VkResult (*PFN_vkGetPipelineExecutableInternalRepresentations)(VkDevice, const VkPipelineExecutableInfoKHR*, uint32_t*, VkPipelineExecutableInternalRepresentationKHR*);
typedef VkResult (*PFN_vkSetDebugUtilsObjectName)(VkDevice, const VkDebugUtilsObjectNameInfoEXT*);

static PFN_vkGetInstanceProcAddr nextGipa;
static PFN_vkGetDeviceProcAddr nextGdpa;
static PFN_vkCreateComputePipelines nextCreatePipelines;
static PFN_vkCreateShaderModule nextCreateModule;
static PFN_vkGetPipelineExecutableProperties getProps;
static PFN_vkGetPipelineExecutableStatistics getStats;
static PFN_vkGetPipelineExecutableInternalRepresentations getIRs;
static PFN_vkSetDebugUtilsObjectName nextSetNameExt;
static VkInstance instance;  // for instance-level queries in vkCreateDevice (a NULL instance only serves global ones)
static int enabled;  // the extension is on for the device (single-device processes: the benches and tests)
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char* outPath(void) {
  const char* p = getenv("TETRISERVE_PIPELINE_STATS");
  return p && *p ? p : NULL;
}

// ---- shader modules: SPIR-V size, workgroup size, FNV-1a hash, kept by handle ----
typedef struct { VkShaderModule h; size_t bytes; uint32_t local[3]; uint64_t hash; } ModuleInfo;
static ModuleInfo modules[4096];
static int nModules;
static unsigned seq;

static void jsonString(FILE* f, const char* s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void writeStats(VkDevice d, VkPipeline p, const ModuleInfo* m) {
  const char* path = outPath();
  if (!path || !getProps || !getStats) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "{\"seq\":%u,\"pipeline\":\"%016llx\"", seq++, (unsigned long long)p);
  fprintf(f, ",\"spirvBytes\":%zu,\"workgroupSize\":[%u,%u,%u],\"spirvHash\":\"%016llx\",\"executables\":[",
          m ? m->bytes : 0, m ? m->local[0] : 0, m ? m->local[1] : 0, m ? m->local[2] : 0, (unsigned long long)(m ? m->hash : 0));
  VkPipelineInfoKHR pi = { ST_PIPELINE_INFO, NULL, p };
  uint32_t ne = 0;
  if (getProps(d, &pi, &ne, NULL) == VK_SUCCESS && ne > 0) {
    if (ne > 8) ne = 8;
    VkPipelineExecutablePropertiesKHR props[8];
    memset(props, 0, sizeof(props));
    for (uint32_t i = 0; i < ne; i++) props[i].sType = ST_EXECUTABLE_PROPERTIES;
    getProps(d, &pi, &ne, props);
    for (uint32_t i = 0; i < ne; i++) {
      fprintf(f, "%s{\"name\":", i ? "," : "");
      jsonString(f, props[i].name);
      fprintf(f, ",\"subgroupSize\":%u,\"statistics\":{", props[i].subgroupSize);
      VkPipelineExecutableInfoKHR ei = { ST_EXECUTABLE_INFO, NULL, p, i };
      uint32_t ns = 0;
      if (getStats(d, &ei, &ns, NULL) == VK_SUCCESS && ns > 0) {
        if (ns > 64) ns = 64;
        VkPipelineExecutableStatisticKHR st[64];
        memset(st, 0, sizeof(st));
        for (uint32_t k = 0; k < ns; k++) st[k].sType = ST_EXECUTABLE_STATISTIC;
        getStats(d, &ei, &ns, st);
        for (uint32_t k = 0; k < ns; k++) {
          if (k) fputc(',', f);
          jsonString(f, st[k].name);
          switch (st[k].format) {
            case 0: fprintf(f, ":%s", st[k].value.b32 ? "true" : "false"); break;
            case 1: fprintf(f, ":%lld", (long long)st[k].value.i64); break;
            case 2: fprintf(f, ":%llu", (unsigned long long)st[k].value.u64); break;
            default: fprintf(f, ":%g", st[k].value.f64); break;
          }
        }
      }
      fputs("},\"internalRepresentations\":[", f);
      uint32_t nr = 0;
      if (getIRs && getIRs(d, &ei, &nr, NULL) == VK_SUCCESS && nr > 0) {
        if (nr > 8) nr = 8;
        VkPipelineExecutableInternalRepresentationKHR ir[8];
        memset(ir, 0, sizeof(ir));
        for (uint32_t k = 0; k < nr; k++) ir[k].sType = ST_EXECUTABLE_INTERNAL_REPRESENTATION;
        getIRs(d, &ei, &nr, ir);  // sizes
        for (uint32_t k = 0; k < nr; k++) ir[k].pData = ir[k].dataSize ? calloc(1, ir[k].dataSize + 1) : NULL;
        getIRs(d, &ei, &nr, ir);
        for (uint32_t k = 0; k < nr; k++) {
          fprintf(f, "%s{\"name\":", k ? "," : "");
          jsonString(f, ir[k].name);
          fprintf(f, ",\"bytes\":%zu,\"text\":", ir[k].dataSize);
          if (ir[k].isText && ir[k].pData) jsonString(f, (const char*)ir[k].pData); else fputs("null", f);
          fputc('}', f);
          free(ir[k].pData);
        }
      }
      fputs("]}", f);
    }
  }
  fputs("]}\n", f);
  fclose(f);
}

// FNV-1a over the words, and the LocalSize execution mode (OpExecutionMode = 16, mode LocalSize = 17).
static void describeSpirv(const uint32_t* code, size_t bytes, ModuleInfo* m) {
  m->bytes = bytes;
  m->hash = 1469598103934665603ull;
  size_t n = bytes / 4;
  for (size_t i = 0; i < n; i++) { m->hash ^= code[i]; m->hash *= 1099511628211ull; }
  for (size_t i = 5; i < n;) {
    uint32_t w = code[i], op = w & 0xffff, len = w >> 16;
    if (len == 0) break;
    if (op == 16 && len >= 6 && code[i + 2] == 17) { m->local[0] = code[i + 3]; m->local[1] = code[i + 4]; m->local[2] = code[i + 5]; }
    i += len;
  }
}

static VkResult tsps_CreateShaderModule(VkDevice d, const VkShaderModuleCreateInfo* info, const void* alloc, VkShaderModule* out) {
  VkResult r = nextCreateModule(d, info, alloc, out);
  if (r == VK_SUCCESS && outPath()) {
    pthread_mutex_lock(&lock);
    if (nModules < 4096) {
      ModuleInfo* m = &modules[nModules++];
      memset(m, 0, sizeof(*m));
      m->h = *out;
      describeSpirv(info->pCode, info->codeSize, m);
    }
    pthread_mutex_unlock(&lock);
  }
  return r;
}

static VkResult tsps_CreateComputePipelines(VkDevice d, uint64_t cache, uint32_t n, const VkComputePipelineCreateInfo* infos, const void* alloc, VkPipeline* out) {
  if (!enabled || !outPath() || n > 64) return nextCreatePipelines(d, cache, n, infos, alloc, out);
  VkComputePipelineCreateInfo mine[64];
  for (uint32_t i = 0; i < n; i++) {
    mine[i] = infos[i];
    mine[i].flags |= CAPTURE_STATISTICS | CAPTURE_INTERNAL_REPRESENTATIONS;
  }
  VkResult r = nextCreatePipelines(d, cache, n, mine, alloc, out);
  if (r != VK_SUCCESS) return r;
  pthread_mutex_lock(&lock);
  for (uint32_t i = 0; i < n; i++) {
    ModuleInfo m;
    memset(&m, 0, sizeof(m));
    for (int k = nModules - 1; k >= 0; k--) if (modules[k].h == infos[i].stage.module) { m = modules[k]; break; }
    writeStats(d, out[i], &m);
  }
  pthread_mutex_unlock(&lock);
  return r;
}

// Dawn names the pipeline after creating it (with use_user_defined_labels_in_backend): its label, by handle.
static VkResult setName(PFN_vkSetDebugUtilsObjectName next, VkDevice d, const VkDebugUtilsObjectNameInfoEXT* info) {
  VkResult r = next ? next(d, info) : VK_SUCCESS;
  const char* path = outPath();
  if (info && info->objectType == OBJECT_TYPE_PIPELINE && path && info->pObjectName) {
    pthread_mutex_lock(&lock);
    FILE* f = fopen(path, "a");
    if (f) {
      fprintf(f, "{\"pipeline\":\"%016llx\",\"label\":", (unsigned long long)info->objectHandle);
      jsonString(f, info->pObjectName);
      fputs("}\n", f);
      fclose(f);
    }
    pthread_mutex_unlock(&lock);
  }
  return r;
}
static VkResult tsps_SetDebugUtilsObjectNameEXT(VkDevice d, const VkDebugUtilsObjectNameInfoEXT* info) { return setName(nextSetNameExt, d, info); }

static VkResult tsps_CreateInstance(const void* info, const void* alloc, VkInstance* out) {
  VkLayerInstanceCreateInfo* link = layerInstanceLink(info);
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  nextGipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateInstance create = (PFN_vkCreateInstance)nextGipa(NULL, "vkCreateInstance");
  if (!create) return VK_ERROR_INITIALIZATION_FAILED;
  VkResult r = create(info, alloc, out);
  if (r == VK_SUCCESS) instance = *out;
  return r;
}

static VkResult tsps_CreateDevice(VkPhysicalDevice pd, const VkDeviceCreateInfo* info, const void* alloc, VkDevice* out) {
  VkLayerDeviceCreateInfo* link = layerDeviceLink(info);
  if (!link) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  nextGdpa = link->u.pLayerInfo->pfnNextGetDeviceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;
  PFN_vkCreateDevice create = (PFN_vkCreateDevice)gipa(NULL, "vkCreateDevice");
  if (!create) return VK_ERROR_INITIALIZATION_FAILED;
  // Enable the extension (and its feature) where the device has it and the caller did not.
  int has = 0, asked = 0;
  uint32_t nExt = 0;
  PFN_vkEnumerateDeviceExtensionProperties enumExt = (PFN_vkEnumerateDeviceExtensionProperties)gipa(instance, "vkEnumerateDeviceExtensionProperties");
  if (outPath() && enumExt) {
    uint32_t n = 0;
    enumExt(pd, NULL, &n, NULL);
    nExt = n;
    VkExtensionProperties* props = calloc(n ? n : 1, sizeof(VkExtensionProperties));
    enumExt(pd, NULL, &n, props);
    for (uint32_t i = 0; i < n; i++) if (!strcmp(props[i].extensionName, EXT_NAME)) has = 1;
    free(props);
    for (uint32_t i = 0; i < info->enabledExtensionCount; i++) if (!strcmp(info->ppEnabledExtensionNames[i], EXT_NAME)) asked = 1;
  }
  VkResult r;
  if (has && !asked) {
    VkDeviceCreateInfo mine = *info;
    const char** names = calloc(info->enabledExtensionCount + 1, sizeof(char*));
    for (uint32_t i = 0; i < info->enabledExtensionCount; i++) names[i] = info->ppEnabledExtensionNames[i];
    names[info->enabledExtensionCount] = EXT_NAME;
    mine.enabledExtensionCount = info->enabledExtensionCount + 1;
    mine.ppEnabledExtensionNames = names;
    VkFeaturesPipelineExecutable feat = { ST_FEATURES_PIPELINE_EXECUTABLE, (void*)info->pNext, 1 };
    mine.pNext = &feat;
    r = create(pd, &mine, alloc, out);
    free(names);
  } else {
    r = create(pd, info, alloc, out);
  }
  if (r != VK_SUCCESS) return r;
  enabled = has || asked;
  if (outPath() && !enabled) {
    FILE* f = fopen(outPath(), "a");
    if (f) { fprintf(f, "{\"error\":\"the device has no " EXT_NAME " (%u device extensions listed)\"}\n", nExt); fclose(f); }
  }
  nextCreatePipelines = (PFN_vkCreateComputePipelines)nextGdpa(*out, "vkCreateComputePipelines");
  nextCreateModule = (PFN_vkCreateShaderModule)nextGdpa(*out, "vkCreateShaderModule");
  getProps = (PFN_vkGetPipelineExecutableProperties)nextGdpa(*out, "vkGetPipelineExecutablePropertiesKHR");
  getStats = (PFN_vkGetPipelineExecutableStatistics)nextGdpa(*out, "vkGetPipelineExecutableStatisticsKHR");
  getIRs = (PFN_vkGetPipelineExecutableInternalRepresentations)nextGdpa(*out, "vkGetPipelineExecutableInternalRepresentationsKHR");
  nextSetNameExt = (PFN_vkSetDebugUtilsObjectName)nextGdpa(*out, "vkSetDebugUtilsObjectNameEXT");
  return VK_SUCCESS;
}

EXPORT PFN_vkVoidFunction tsps_GetDeviceProcAddr(VkDevice dev, const char* name);

EXPORT PFN_vkVoidFunction tsps_GetInstanceProcAddr(VkInstance inst, const char* name) {
  if (!strcmp(name, "vkGetInstanceProcAddr")) return (PFN_vkVoidFunction)tsps_GetInstanceProcAddr;
  if (!strcmp(name, "vkGetDeviceProcAddr")) return (PFN_vkVoidFunction)tsps_GetDeviceProcAddr;
  if (!strcmp(name, "vkCreateInstance")) return (PFN_vkVoidFunction)tsps_CreateInstance;
  if (!strcmp(name, "vkCreateDevice")) return (PFN_vkVoidFunction)tsps_CreateDevice;
  PFN_vkVoidFunction dev = tsps_GetDeviceProcAddr(NULL, name);
  if (dev && strcmp(name, "vkGetDeviceProcAddr")) return dev;
  return nextGipa ? nextGipa(inst, name) : NULL;
}

EXPORT PFN_vkVoidFunction tsps_GetDeviceProcAddr(VkDevice dev, const char* name) {
  if (!strcmp(name, "vkGetDeviceProcAddr")) return (PFN_vkVoidFunction)tsps_GetDeviceProcAddr;
  if (!strcmp(name, "vkCreateComputePipelines")) return (PFN_vkVoidFunction)tsps_CreateComputePipelines;
  if (!strcmp(name, "vkCreateShaderModule")) return (PFN_vkVoidFunction)tsps_CreateShaderModule;
  if (!strcmp(name, "vkSetDebugUtilsObjectNameEXT")) return (PFN_vkVoidFunction)tsps_SetDebugUtilsObjectNameEXT;
  if (!dev) return NULL;
  return nextGdpa ? nextGdpa(dev, name) : NULL;
}
