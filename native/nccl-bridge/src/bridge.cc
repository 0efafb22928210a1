// tetriserve NCCL bridge: a Node-API addon that moves sequence-parallel activations between GPUs with NCCL.
//
// Built at `npm ci` from this file alone (build.mjs: g++ + the node-api-headers package; nothing downloaded) and
// on machines without GPUs: libcudart and libnccl.so.2 are opened at RUN time with dlopen, and the few CUDA/NCCL
// declarations it needs are written out below (no CUDA or NCCL headers). A missing library is a clear error from
// load(); the engine then runs single-GPU.
//
// Data path (dawn.node exposes no GPU memory to CUDA, GPU-NOTES): JS hands us typed-array views of the MAPPED
// staging memory of Dawn buffers (MAP_READ for what a rank sends, MAP_WRITE for what it receives). We pin those
// ranges with cudaHostRegister (cached per range; Dawn keeps mappable memory persistently mapped, so a staging
// buffer's pointer is stable for its life) and pipeline, per chunk: host->device copy on a copy stream, NCCL
// send/recv on the NCCL stream, device->host copy on a third stream, ordered by events. No JS copy at all.
// Where registration fails we fall back to a pinned bounce buffer filled by native threads.
//
// Communicators: one process driving every local GPU (commInitAll; each exchange is one NCCL group over all the
// process's ranks), or one process per GPU (uniqueId + commInitRank). The TS side (src/parallel/nccl.ts)
// gathers each round of calls from its ranks before calling exchange().
#include <dlfcn.h>
#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// ---- the CUDA runtime and NCCL declarations we use (ABI-stable C APIs) --------------------------------------
typedef int cudaError_t;
typedef void* cudaStream_t;
typedef void* cudaEvent_t;
typedef void* ncclComm_t;
typedef int ncclResult_t;
struct ncclUniqueId { char internal[128]; };
enum { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
enum { cudaHostRegisterPortable = 1 };
enum { cudaStreamNonBlocking = 1 };
enum { cudaEventDisableTiming = 2 };
enum { ncclUint8 = 1 };

struct Cuda {
  cudaError_t (*getDeviceCount)(int*);
  cudaError_t (*setDevice)(int);
  cudaError_t (*malloc)(void**, size_t);
  cudaError_t (*free)(void*);
  cudaError_t (*mallocHost)(void**, size_t);
  cudaError_t (*freeHost)(void*);
  cudaError_t (*hostRegister)(void*, size_t, unsigned);
  cudaError_t (*hostUnregister)(void*);
  cudaError_t (*memcpyAsync)(void*, const void*, size_t, int, cudaStream_t);
  cudaError_t (*streamCreateWithFlags)(cudaStream_t*, unsigned);
  cudaError_t (*streamSynchronize)(cudaStream_t);
  cudaError_t (*streamWaitEvent)(cudaStream_t, cudaEvent_t, unsigned);
  cudaError_t (*eventCreateWithFlags)(cudaEvent_t*, unsigned);
  cudaError_t (*eventRecord)(cudaEvent_t, cudaStream_t);
  cudaError_t (*eventElapsedTime)(float*, cudaEvent_t, cudaEvent_t);
  cudaError_t (*eventSynchronize)(cudaEvent_t);
  const char* (*getErrorString)(cudaError_t);
  cudaError_t (*getLastError)();
};
struct Nccl {
  ncclResult_t (*getVersion)(int*);
  ncclResult_t (*getUniqueId)(ncclUniqueId*);
  ncclResult_t (*commInitAll)(ncclComm_t*, int, const int*);
  ncclResult_t (*commInitRank)(ncclComm_t*, int, ncclUniqueId, int);
  ncclResult_t (*commDestroy)(ncclComm_t);
  ncclResult_t (*groupStart)();
  ncclResult_t (*groupEnd)();
  ncclResult_t (*send)(const void*, size_t, int, int, ncclComm_t, cudaStream_t);
  ncclResult_t (*recv)(void*, size_t, int, int, ncclComm_t, cudaStream_t);
  const char* (*getErrorString)(ncclResult_t);
};

static Cuda cuda;
static Nccl nccl;
static bool loaded = false;
static std::string loadError;
static int ncclVersion = 0;

template <typename F>
static bool sym(void* lib, const char* name, F& f, std::string& err) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) err += std::string(err.empty() ? "" : "; ") + "missing symbol " + name;
  return f != nullptr;
}

static void* openFirst(const std::vector<const char*>& names, std::string& tried) {
  for (auto n : names) {
    void* h = dlopen(n, RTLD_NOW | RTLD_GLOBAL);
    if (h) return h;
    tried += std::string(tried.empty() ? "" : ", ") + n + " (" + dlerror() + ")";
  }
  return nullptr;
}

static bool doLoad() {
  if (loaded) return true;
  loadError.clear();
  std::string tried;
  // TETRISERVE_CUDART_PATH / TETRISERVE_NCCL_PATH: libraries outside the loader's search path (and test doubles).
  const char* cudartEnv = getenv("TETRISERVE_CUDART_PATH");
  const char* ncclEnv = getenv("TETRISERVE_NCCL_PATH");
  std::vector<const char*> rtNames = {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"};
  std::vector<const char*> ncNames = {"libnccl.so.2", "libnccl.so"};
  if (cudartEnv && *cudartEnv) rtNames.insert(rtNames.begin(), cudartEnv);
  if (ncclEnv && *ncclEnv) ncNames.insert(ncNames.begin(), ncclEnv);
  void* rt = openFirst(rtNames, tried);
  if (!rt) { loadError = "CUDA runtime not found: tried " + tried; return false; }
  tried.clear();
  void* nl = openFirst(ncNames, tried);
  if (!nl) { loadError = "NCCL not found: tried " + tried + " (install NCCL 2.x or set LD_LIBRARY_PATH)"; return false; }
  std::string err;
  sym(rt, "cudaGetDeviceCount", cuda.getDeviceCount, err);
  sym(rt, "cudaSetDevice", cuda.setDevice, err);
  sym(rt, "cudaMalloc", cuda.malloc, err);
  sym(rt, "cudaFree", cuda.free, err);
  sym(rt, "cudaMallocHost", cuda.mallocHost, err);
  sym(rt, "cudaFreeHost", cuda.freeHost, err);
  sym(rt, "cudaHostRegister", cuda.hostRegister, err);
  sym(rt, "cudaHostUnregister", cuda.hostUnregister, err);
  sym(rt, "cudaMemcpyAsync", cuda.memcpyAsync, err);
  sym(rt, "cudaStreamCreateWithFlags", cuda.streamCreateWithFlags, err);
  sym(rt, "cudaStreamSynchronize", cuda.streamSynchronize, err);
  sym(rt, "cudaStreamWaitEvent", cuda.streamWaitEvent, err);
  sym(rt, "cudaEventCreateWithFlags", cuda.eventCreateWithFlags, err);
  sym(rt, "cudaEventRecord", cuda.eventRecord, err);
  sym(rt, "cudaEventElapsedTime", cuda.eventElapsedTime, err);
  sym(rt, "cudaEventSynchronize", cuda.eventSynchronize, err);
  sym(rt, "cudaGetErrorString", cuda.getErrorString, err);
  sym(rt, "cudaGetLastError", cuda.getLastError, err);
  sym(nl, "ncclGetVersion", nccl.getVersion, err);
  sym(nl, "ncclGetUniqueId", nccl.getUniqueId, err);
  sym(nl, "ncclCommInitAll", nccl.commInitAll, err);
  sym(nl, "ncclCommInitRank", nccl.commInitRank, err);
  sym(nl, "ncclCommDestroy", nccl.commDestroy, err);
  sym(nl, "ncclGroupStart", nccl.groupStart, err);
  sym(nl, "ncclGroupEnd", nccl.groupEnd, err);
  sym(nl, "ncclSend", nccl.send, err);
  sym(nl, "ncclRecv", nccl.recv, err);
  sym(nl, "ncclGetErrorString", nccl.getErrorString, err);
  if (!err.empty()) { loadError = "CUDA/NCCL library incomplete: " + err; return false; }
  nccl.getVersion(&ncclVersion);
  loaded = true;
  return true;
}

// ---- helpers --------------------------------------------------------------------------------------------------
struct Failure { std::string msg; };
#define CUDA_OK(x) do { cudaError_t e_ = (x); if (e_ != 0) throw Failure{std::string(#x) + ": " + cuda.getErrorString(e_)}; } while (0)
#define NCCL_OK(x) do { ncclResult_t e_ = (x); if (e_ != 0) throw Failure{std::string(#x) + ": " + nccl.getErrorString(e_)}; } while (0)

static double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/** memcpy split over threads (one pinned bounce fill, or the host "shared-memory" transport). */
static void parallelCopy(uint8_t* dst, const uint8_t* src, size_t n, int threads) {
  if (threads <= 1 || n < (4u << 20)) { std::memcpy(dst, src, n); return; }
  std::vector<std::thread> ts;
  size_t per = (n + threads - 1) / threads;
  per = (per + 4095) & ~size_t(4095);
  for (int t = 0; t < threads; t++) {
    size_t a = t * per;
    if (a >= n) break;
    size_t b = std::min(n, a + per);
    ts.emplace_back([=] { std::memcpy(dst + a, src + a, b - a); });
  }
  for (auto& t : ts) t.join();
}

static int copyThreads() {
  const char* e = getenv("TETRISERVE_COPY_THREADS");
  int n = e ? atoi(e) : 8;
  return std::max(1, std::min(64, n));
}

// ---- communicators ----------------------------------------------------------------------------------------
struct LocalRank {
  int rank = 0;      // rank in the NCCL communicator
  int device = 0;    // CUDA device index
  ncclComm_t comm = nullptr;
  cudaStream_t copyIn = nullptr, net = nullptr, copyOut = nullptr;
  std::vector<cudaEvent_t> inDone, netDone;  // one per chunk slot
  cudaEvent_t t0 = nullptr, t1 = nullptr, t2 = nullptr, t3 = nullptr;
  void* dsend = nullptr; size_t dsendBytes = 0;
  void* drecv = nullptr; size_t drecvBytes = 0;
  void* bounce = nullptr; size_t bounceBytes = 0;  // pinned host fallback
};

struct Comm {
  int nranks = 0;
  std::vector<LocalRank> ranks;  // the ranks this process drives
  std::map<uintptr_t, size_t> registered;  // host ranges pinned with cudaHostRegister
  std::mutex mu;
  bool destroyed = false;
};

static std::map<int, Comm*> comms;
static int nextComm = 1;

static void setupRank(LocalRank& r) {
  CUDA_OK(cuda.setDevice(r.device));
  CUDA_OK(cuda.streamCreateWithFlags(&r.copyIn, cudaStreamNonBlocking));
  CUDA_OK(cuda.streamCreateWithFlags(&r.net, cudaStreamNonBlocking));
  CUDA_OK(cuda.streamCreateWithFlags(&r.copyOut, cudaStreamNonBlocking));
  for (auto* e : {&r.t0, &r.t1, &r.t2, &r.t3}) CUDA_OK(cuda.eventCreateWithFlags(e, 0));
}

static void ensureDevice(LocalRank& r, void*& p, size_t& have, size_t need) {
  if (have >= need) return;
  CUDA_OK(cuda.setDevice(r.device));
  if (p) CUDA_OK(cuda.free(p));
  p = nullptr;
  size_t n = std::max<size_t>(need, 1 << 20);
  CUDA_OK(cuda.malloc(&p, n));
  have = n;
}

static void ensureEvents(LocalRank& r, size_t n) {
  CUDA_OK(cuda.setDevice(r.device));
  while (r.inDone.size() < n) {
    cudaEvent_t a, b;
    CUDA_OK(cuda.eventCreateWithFlags(&a, cudaEventDisableTiming));
    CUDA_OK(cuda.eventCreateWithFlags(&b, cudaEventDisableTiming));
    r.inDone.push_back(a);
    r.netDone.push_back(b);
  }
}

/** Pins [p, p+n) once; false when the driver refuses (then the caller bounces through pinned memory). */
static bool pin(Comm& c, uint8_t* p, size_t n) {
  if (getenv("TETRISERVE_NCCL_REGISTER") && std::string(getenv("TETRISERVE_NCCL_REGISTER")) == "0") return false;
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = c.registered.find(a);
  if (it != c.registered.end() && it->second >= n) return true;
  // Drop stale or overlapping registrations (a staging buffer that was replaced by a larger one).
  for (auto j = c.registered.begin(); j != c.registered.end();) {
    if (j->first < a + n && a < j->first + j->second) {
      cuda.hostUnregister(reinterpret_cast<void*>(j->first));
      j = c.registered.erase(j);
    } else {
      ++j;
    }
  }
  if (cuda.hostRegister(p, n, cudaHostRegisterPortable) != 0) {
    cuda.getLastError();  // clear the sticky error of the failed call
    return false;
  }
  c.registered[a] = n;
  return true;
}

// ---- one exchange: every local rank's sends/recvs, chunk-pipelined ----------------------------------------
struct Msg { int peer; uint8_t* host; size_t bytes; size_t devOff; bool pinned; };
struct RankOps { int local; std::vector<Msg> sends, recvs; };
struct ExchangeJob {
  Comm* comm = nullptr;
  std::vector<RankOps> ops;
  std::vector<napi_ref> keep;  // the typed arrays stay alive until the work completes
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  std::string error;
  double h2dMs = 0, netMs = 0, d2hMs = 0, wallMs = 0;
  size_t chunks = 0, bytesIn = 0, bytesOut = 0;
  bool allPinned = true;
};

static size_t chunkBytes() {
  const char* e = getenv("TETRISERVE_NCCL_CHUNK_MB");
  // 4 MiB: a 16 MiB exchange chunk from the JS side becomes 4 rounds of copy-in / NCCL / copy-out that overlap.
  double mb = e ? atof(e) : 4.0;
  return mb <= 0 ? SIZE_MAX : std::max<size_t>(1 << 16, size_t(mb * (1 << 20)));
}

static void runExchange(ExchangeJob& j) {
  Comm& c = *j.comm;
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.destroyed) throw Failure{"communicator was destroyed"};
  double w0 = nowMs();
  const size_t CH = chunkBytes();
  const int threads = copyThreads();
  size_t nChunks = 1;
  for (auto& o : j.ops) {
    LocalRank& r = c.ranks[o.local];
    size_t s = 0, rv = 0;
    for (auto& m : o.sends) { m.devOff = s; s += (m.bytes + 255) & ~size_t(255); m.pinned = pin(c, m.host, m.bytes); j.bytesOut += m.bytes; }
    for (auto& m : o.recvs) { m.devOff = rv; rv += (m.bytes + 255) & ~size_t(255); m.pinned = pin(c, m.host, m.bytes); j.bytesIn += m.bytes; }
    ensureDevice(r, r.dsend, r.dsendBytes, s);
    ensureDevice(r, r.drecv, r.drecvBytes, rv);
    bool allPinned = true;
    for (auto& m : o.sends) allPinned = allPinned && m.pinned;
    for (auto& m : o.recvs) allPinned = allPinned && m.pinned;
    if (!allPinned) {
      j.allPinned = false;
      size_t need = std::max(s, rv);
      if (r.bounceBytes < need) {
        CUDA_OK(cuda.setDevice(r.device));
        if (r.bounce) CUDA_OK(cuda.freeHost(r.bounce));
        r.bounce = nullptr;
        CUDA_OK(cuda.mallocHost(&r.bounce, need));
        r.bounceBytes = need;
      }
      // Unpinned sends go through the bounce buffer (parallel memcpy), then one copy per message.
      for (auto& m : o.sends) if (!m.pinned) { parallelCopy(static_cast<uint8_t*>(r.bounce) + m.devOff, m.host, m.bytes, threads); }
    }
    // Piece k of a message is bytes [k*CH, (k+1)*CH): it depends only on the message's size, so both ends cut a
    // message alike even when their processes run different numbers of chunk rounds (one process per GPU).
    if (CH != SIZE_MAX) {
      for (auto& m : o.sends) nChunks = std::max(nChunks, (m.bytes + CH - 1) / CH);
      for (auto& m : o.recvs) nChunks = std::max(nChunks, (m.bytes + CH - 1) / CH);
    }
  }
  j.chunks = nChunks;
  auto piece = [&](const Msg& m, size_t k, size_t& off, size_t& len) {
    if (CH == SIZE_MAX) { off = 0; len = k == 0 ? m.bytes : 0; return; }
    off = std::min(m.bytes, k * CH);
    len = std::min(m.bytes - off, CH);
  };
  for (auto& o : j.ops) {
    LocalRank& r = c.ranks[o.local];
    ensureEvents(r, nChunks);
    CUDA_OK(cuda.setDevice(r.device));
    CUDA_OK(cuda.eventRecord(r.t0, r.copyIn));
  }
  for (size_t k = 0; k < nChunks; k++) {
    // 1. host -> device (copy stream)
    for (auto& o : j.ops) {
      LocalRank& r = c.ranks[o.local];
      CUDA_OK(cuda.setDevice(r.device));
      for (auto& m : o.sends) {
        size_t off, len;
        piece(m, k, off, len);
        if (!len) continue;
        const uint8_t* src = m.pinned ? m.host + off : static_cast<uint8_t*>(r.bounce) + m.devOff + off;
        CUDA_OK(cuda.memcpyAsync(static_cast<uint8_t*>(r.dsend) + m.devOff + off, src, len, cudaMemcpyHostToDevice, r.copyIn));
      }
      CUDA_OK(cuda.eventRecord(r.inDone[k], r.copyIn));
      CUDA_OK(cuda.streamWaitEvent(r.net, r.inDone[k], 0));
      if (k == 0) CUDA_OK(cuda.eventRecord(r.t1, r.net));
    }
    // 2. one NCCL group over every local rank's sends and receives of this chunk
    NCCL_OK(nccl.groupStart());
    for (auto& o : j.ops) {
      LocalRank& r = c.ranks[o.local];
      for (auto& m : o.sends) {
        size_t off, len;
        piece(m, k, off, len);
        if (len) NCCL_OK(nccl.send(static_cast<uint8_t*>(r.dsend) + m.devOff + off, len, ncclUint8, m.peer, r.comm, r.net));
      }
      for (auto& m : o.recvs) {
        size_t off, len;
        piece(m, k, off, len);
        if (len) NCCL_OK(nccl.recv(static_cast<uint8_t*>(r.drecv) + m.devOff + off, len, ncclUint8, m.peer, r.comm, r.net));
      }
    }
    NCCL_OK(nccl.groupEnd());
    // 3. device -> host (third stream), after this chunk's NCCL work
    for (auto& o : j.ops) {
      LocalRank& r = c.ranks[o.local];
      CUDA_OK(cuda.setDevice(r.device));
      CUDA_OK(cuda.eventRecord(r.netDone[k], r.net));
      if (k == nChunks - 1) CUDA_OK(cuda.eventRecord(r.t2, r.net));
      CUDA_OK(cuda.streamWaitEvent(r.copyOut, r.netDone[k], 0));
      for (auto& m : o.recvs) {
        size_t off, len;
        piece(m, k, off, len);
        if (!len) continue;
        uint8_t* dst = m.pinned ? m.host + off : static_cast<uint8_t*>(r.bounce) + m.devOff + off;
        CUDA_OK(cuda.memcpyAsync(dst, static_cast<uint8_t*>(r.drecv) + m.devOff + off, len, cudaMemcpyDeviceToHost, r.copyOut));
      }
    }
  }
  for (auto& o : j.ops) {
    LocalRank& r = c.ranks[o.local];
    CUDA_OK(cuda.setDevice(r.device));
    CUDA_OK(cuda.eventRecord(r.t3, r.copyOut));
    CUDA_OK(cuda.streamSynchronize(r.copyOut));
    CUDA_OK(cuda.streamSynchronize(r.net));
    CUDA_OK(cuda.streamSynchronize(r.copyIn));
    float a = 0, b = 0, d = 0;
    cuda.eventElapsedTime(&a, r.t0, r.t1);
    cuda.eventElapsedTime(&b, r.t1, r.t2);
    cuda.eventElapsedTime(&d, r.t2, r.t3);
    j.h2dMs = std::max(j.h2dMs, double(a));
    j.netMs = std::max(j.netMs, double(b));
    j.d2hMs = std::max(j.d2hMs, double(d));
    for (auto& m : o.recvs) if (!m.pinned) parallelCopy(m.host, static_cast<uint8_t*>(r.bounce) + m.devOff, m.bytes, threads);
  }
  j.wallMs = nowMs() - w0;
}

// ---- Node-API glue ------------------------------------------------------------------------------------------
#define NAPI_OK(x) do { if ((x) != napi_ok) { napi_throw_error(env, nullptr, "nccl-bridge: Node-API call failed: " #x); return nullptr; } } while (0)

static napi_value str(napi_env env, const std::string& s) { napi_value v; napi_create_string_utf8(env, s.c_str(), s.size(), &v); return v; }
static napi_value num(napi_env env, double d) { napi_value v; napi_create_double(env, d, &v); return v; }
static napi_value boolean(napi_env env, bool b) { napi_value v; napi_get_boolean(env, b, &v); return v; }
static void setProp(napi_env env, napi_value o, const char* k, napi_value v) { napi_set_named_property(env, o, k, v); }
static napi_value throwErr(napi_env env, const std::string& m) { napi_throw_error(env, nullptr, ("nccl-bridge: " + m).c_str()); return nullptr; }

static bool getInt(napi_env env, napi_value v, int& out) { return napi_get_value_int32(env, v, &out) == napi_ok; }

static bool bytesOf(napi_env env, napi_value v, uint8_t*& p, size_t& n) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (is) {
    napi_typedarray_type t; size_t len; void* data; napi_value ab; size_t off;
    if (napi_get_typedarray_info(env, v, &t, &len, &data, &ab, &off) != napi_ok) return false;
    size_t el = (t == napi_int8_array || t == napi_uint8_array || t == napi_uint8_clamped_array) ? 1 : (t == napi_int16_array || t == napi_uint16_array) ? 2 : (t == napi_float64_array || t == napi_bigint64_array || t == napi_biguint64_array) ? 8 : 4;
    p = static_cast<uint8_t*>(data);
    n = len * el;
    return true;
  }
  napi_is_arraybuffer(env, v, &is);
  if (is) { void* d; napi_get_arraybuffer_info(env, v, &d, &n); p = static_cast<uint8_t*>(d); return true; }
  return false;
}

// load() -> { ok, error?, ncclVersion?, devices? }
static napi_value Load(napi_env env, napi_callback_info) {
  napi_value o; napi_create_object(env, &o);
  bool ok = doLoad();
  setProp(env, o, "ok", boolean(env, ok));
  if (!ok) { setProp(env, o, "error", str(env, loadError)); return o; }
  int n = 0;
  cudaError_t e = cuda.getDeviceCount(&n);
  if (e != 0) { setProp(env, o, "ok", boolean(env, false)); setProp(env, o, "error", str(env, std::string("cudaGetDeviceCount: ") + cuda.getErrorString(e))); return o; }
  setProp(env, o, "ncclVersion", num(env, ncclVersion));
  setProp(env, o, "devices", num(env, n));
  return o;
}

static Comm* commArg(napi_env env, napi_value v) {
  int id = 0;
  if (!getInt(env, v, id) || !comms.count(id)) { throwErr(env, "unknown communicator handle"); return nullptr; }
  return comms[id];
}

// commInitAll(devices: number[]) -> handle. One process, one rank per listed CUDA device.
static napi_value CommInitAll(napi_env env, napi_callback_info info) {
  if (!doLoad()) return throwErr(env, loadError);
  size_t argc = 1; napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  uint32_t n = 0;
  if (argc < 1 || napi_get_array_length(env, argv[0], &n) != napi_ok || n < 1) return throwErr(env, "commInitAll(devices): devices must be a non-empty array of CUDA device indices");
  std::vector<int> devs(n);
  for (uint32_t i = 0; i < n; i++) { napi_value e; napi_get_element(env, argv[0], i, &e); if (!getInt(env, e, devs[i])) return throwErr(env, "device indices must be integers"); }
  auto* c = new Comm();
  c->nranks = int(n);
  c->ranks.resize(n);
  std::vector<ncclComm_t> raw(n);
  try {
    NCCL_OK(nccl.commInitAll(raw.data(), int(n), devs.data()));
    for (uint32_t i = 0; i < n; i++) { c->ranks[i].rank = int(i); c->ranks[i].device = devs[i]; c->ranks[i].comm = raw[i]; setupRank(c->ranks[i]); }
  } catch (Failure& f) { delete c; return throwErr(env, f.msg); }
  int id = nextComm++;
  comms[id] = c;
  return num(env, id);
}

// uniqueId() -> Uint8Array(128): made by rank 0, passed to the other processes.
static napi_value UniqueId(napi_env env, napi_callback_info) {
  if (!doLoad()) return throwErr(env, loadError);
  ncclUniqueId uid;
  ncclResult_t r = nccl.getUniqueId(&uid);
  if (r != 0) return throwErr(env, std::string("ncclGetUniqueId: ") + nccl.getErrorString(r));
  void* data; napi_value ab, arr;
  NAPI_OK(napi_create_arraybuffer(env, sizeof(uid), &data, &ab));
  std::memcpy(data, &uid, sizeof(uid));
  NAPI_OK(napi_create_typedarray(env, napi_uint8_array, sizeof(uid), ab, 0, &arr));
  return arr;
}

// commInitRank(uniqueId, nranks, rank, device) -> handle. One process per GPU.
static napi_value CommInitRank(napi_env env, napi_callback_info info) {
  if (!doLoad()) return throwErr(env, loadError);
  size_t argc = 4; napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  uint8_t* p; size_t n; int nranks, rank, dev;
  if (argc < 4 || !bytesOf(env, argv[0], p, n) || n != sizeof(ncclUniqueId) || !getInt(env, argv[1], nranks) || !getInt(env, argv[2], rank) || !getInt(env, argv[3], dev)) {
    return throwErr(env, "commInitRank(uniqueId: Uint8Array(128), nranks, rank, device)");
  }
  ncclUniqueId uid; std::memcpy(&uid, p, sizeof(uid));
  auto* c = new Comm();
  c->nranks = nranks;
  c->ranks.resize(1);
  try {
    CUDA_OK(cuda.setDevice(dev));
    NCCL_OK(nccl.commInitRank(&c->ranks[0].comm, nranks, uid, rank));
    c->ranks[0].rank = rank; c->ranks[0].device = dev;
    setupRank(c->ranks[0]);
  } catch (Failure& f) { delete c; return throwErr(env, f.msg); }
  int id = nextComm++;
  comms[id] = c;
  return num(env, id);
}

static void ExecuteExchange(napi_env, void* data) {
  auto* j = static_cast<ExchangeJob*>(data);
  try { runExchange(*j); } catch (Failure& f) { j->error = f.msg; }
}

static void CompleteExchange(napi_env env, napi_status, void* data) {
  auto* j = static_cast<ExchangeJob*>(data);
  for (auto r : j->keep) napi_delete_reference(env, r);
  if (!j->error.empty()) {
    napi_value err, msg;
    napi_create_string_utf8(env, ("nccl-bridge: collective failed: " + j->error).c_str(), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
  } else {
    napi_value o; napi_create_object(env, &o);
    setProp(env, o, "h2dMs", num(env, j->h2dMs));
    setProp(env, o, "ncclMs", num(env, j->netMs));
    setProp(env, o, "d2hMs", num(env, j->d2hMs));
    setProp(env, o, "wallMs", num(env, j->wallMs));
    setProp(env, o, "chunks", num(env, double(j->chunks)));
    setProp(env, o, "bytesIn", num(env, double(j->bytesIn)));
    setProp(env, o, "bytesOut", num(env, double(j->bytesOut)));
    setProp(env, o, "pinned", boolean(env, j->allPinned));
    napi_resolve_deferred(env, j->deferred, o);
  }
  napi_delete_async_work(env, j->work);
  delete j;
}

// exchange(handle, ops: {local, sends: {peer, data}[], recvs: {peer, data}[]}[]) -> Promise<timings>
// `local` indexes the ranks this process drives (commInitAll order; 0 for commInitRank).
static napi_value Exchange(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 2) return throwErr(env, "exchange(handle, ops)");
  Comm* c = commArg(env, argv[0]);
  if (!c) return nullptr;
  auto* j = new ExchangeJob();
  j->comm = c;
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  auto readMsgs = [&](napi_value o, const char* key, std::vector<Msg>& out) -> bool {
    napi_value arr; uint32_t m = 0;
    if (napi_get_named_property(env, o, key, &arr) != napi_ok || napi_get_array_length(env, arr, &m) != napi_ok) return false;
    for (uint32_t i = 0; i < m; i++) {
      napi_value e, pv, dv;
      napi_get_element(env, arr, i, &e);
      napi_get_named_property(env, e, "peer", &pv);
      napi_get_named_property(env, e, "data", &dv);
      Msg msg{};
      if (!getInt(env, pv, msg.peer) || msg.peer < 0 || msg.peer >= c->nranks || !bytesOf(env, dv, msg.host, msg.bytes)) return false;
      napi_ref ref; napi_create_reference(env, dv, 1, &ref); j->keep.push_back(ref);
      out.push_back(msg);
    }
    return true;
  };
  for (uint32_t i = 0; i < n; i++) {
    napi_value o, lv; napi_get_element(env, argv[1], i, &o);
    RankOps ro{};
    napi_get_named_property(env, o, "local", &lv);
    if (!getInt(env, lv, ro.local) || ro.local < 0 || ro.local >= int(c->ranks.size()) || !readMsgs(o, "sends", ro.sends) || !readMsgs(o, "recvs", ro.recvs)) {
      for (auto r : j->keep) napi_delete_reference(env, r);
      delete j;
      return throwErr(env, "exchange: each op needs local (a rank this process drives), sends and recvs of {peer, data: TypedArray}");
    }
    j->ops.push_back(std::move(ro));
  }
  napi_value promise, name;
  NAPI_OK(napi_create_promise(env, &j->deferred, &promise));
  napi_create_string_utf8(env, "nccl-exchange", NAPI_AUTO_LENGTH, &name);
  NAPI_OK(napi_create_async_work(env, nullptr, name, ExecuteExchange, CompleteExchange, j, &j->work));
  NAPI_OK(napi_queue_async_work(env, j->work));
  return promise;
}

static napi_value CommDestroy(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Comm* c = commArg(env, argv[0]);
  if (!c) return nullptr;
  int id = 0; getInt(env, argv[0], id);
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->destroyed = true;
    for (auto& kv : c->registered) cuda.hostUnregister(reinterpret_cast<void*>(kv.first));
    c->registered.clear();
    for (auto& r : c->ranks) {
      cuda.setDevice(r.device);
      if (r.dsend) cuda.free(r.dsend);
      if (r.drecv) cuda.free(r.drecv);
      if (r.bounce) cuda.freeHost(r.bounce);
      if (r.comm) nccl.commDestroy(r.comm);
    }
  }
  comms.erase(id);
  return nullptr;
}

struct CopyJob { uint8_t* dst; const uint8_t* src; size_t n; int threads; napi_ref a, b; napi_deferred d; napi_async_work w; double ms; };

// hostCopy(dst, src) -> Promise<ms>: memcpy on native threads (the host-memory transport between Dawn devices
// of one process, which needs no CUDA at all).
static napi_value HostCopy(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  uint8_t *d, *s; size_t nd, ns;
  if (argc < 2 || !bytesOf(env, argv[0], d, nd) || !bytesOf(env, argv[1], s, ns)) return throwErr(env, "hostCopy(dst, src): typed arrays");
  if (nd < ns) return throwErr(env, "hostCopy: destination smaller than source");
  auto* j = new CopyJob{d, s, ns, copyThreads(), nullptr, nullptr, nullptr, nullptr, 0};
  napi_create_reference(env, argv[0], 1, &j->a);
  napi_create_reference(env, argv[1], 1, &j->b);
  napi_value promise, name;
  napi_create_promise(env, &j->d, &promise);
  napi_create_string_utf8(env, "host-copy", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name,
    [](napi_env, void* p) { auto* j = static_cast<CopyJob*>(p); double t = nowMs(); parallelCopy(j->dst, j->src, j->n, j->threads); j->ms = nowMs() - t; },
    [](napi_env env, napi_status, void* p) {
      auto* j = static_cast<CopyJob*>(p);
      napi_delete_reference(env, j->a); napi_delete_reference(env, j->b);
      napi_resolve_deferred(env, j->d, num(env, j->ms));
      napi_delete_async_work(env, j->w);
      delete j;
    }, j, &j->w);
  napi_queue_async_work(env, j->w);
  return promise;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"load", nullptr, Load, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"commInitAll", nullptr, CommInitAll, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"uniqueId", nullptr, UniqueId, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"commInitRank", nullptr, CommInitRank, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"exchange", nullptr, Exchange, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"commDestroy", nullptr, CommDestroy, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"hostCopy", nullptr, HostCopy, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
