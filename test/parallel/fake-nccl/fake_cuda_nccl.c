// A stand-in for libcudart + libnccl.so.2, for testing native/nccl-bridge without a GPU: device memory is host
// memory, copies happen at once, and NCCL send/recv between the ranks of this process are matched in order per
// (sender, receiver) pair at ncclGroupEnd, as NCCL matches them. Communicators made by ncclCommInitRank (one per
// "process") run their groups on different threads: a receive waits (up to 5 s) for its send from another group. FAKE_CUDA_NOREGISTER=1 makes cudaHostRegister
// refuse (the bridge's bounce path); FAKE_NCCL_FAIL=1 makes every ncclGroupEnd fail (the error path).
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct Comm { int rank, n; } Comm;

static int device = 0;
int cudaGetDeviceCount(int* n) { const char* e = getenv("FAKE_CUDA_DEVICES"); *n = e ? atoi(e) : 4; return 0; }
int cudaSetDevice(int d) { device = d; return 0; }
int cudaMalloc(void** p, size_t n) { *p = malloc(n); return *p ? 0 : 2; }
int cudaFree(void* p) { free(p); return 0; }
int cudaMallocHost(void** p, size_t n) { *p = malloc(n); return *p ? 0 : 2; }
int cudaFreeHost(void* p) { free(p); return 0; }
int cudaHostRegister(void* p, size_t n, unsigned f) { (void)p; (void)n; (void)f; return getenv("FAKE_CUDA_NOREGISTER") ? 1 : 0; }
int cudaHostUnregister(void* p) { (void)p; return 0; }
int cudaMemcpyAsync(void* d, const void* s, size_t n, int kind, void* st) { (void)kind; (void)st; memcpy(d, s, n); return 0; }
int cudaStreamCreateWithFlags(void** s, unsigned f) { (void)f; *s = malloc(1); return 0; }
int cudaStreamSynchronize(void* s) { (void)s; return 0; }
int cudaStreamWaitEvent(void* s, void* e, unsigned f) { (void)s; (void)e; (void)f; return 0; }
int cudaEventCreateWithFlags(void** e, unsigned f) { (void)f; *e = malloc(1); return 0; }
int cudaEventRecord(void* e, void* s) { (void)e; (void)s; return 0; }
int cudaEventElapsedTime(float* ms, void* a, void* b) { (void)a; (void)b; *ms = 0.01f; return 0; }
int cudaEventSynchronize(void* e) { (void)e; return 0; }
const char* cudaGetErrorString(int e) { return e == 1 ? "fake: registration refused" : "fake cuda error"; }
int cudaGetLastError(void) { return 0; }

// ---- NCCL ------------------------------------------------------------------------------------------------
typedef struct Op { int send; const Comm* comm; int peer; void* buf; size_t n; } Op;
static __thread Op group[4096];
static __thread int nGroup = 0;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
typedef struct Msg { int from, to; size_t n; unsigned char* data; struct Msg* next; } Msg;
static Msg* queue = NULL;  // sends not yet received, in posting order

int ncclGetVersion(int* v) { *v = 22800; return 0; }
int ncclGetUniqueId(ncclUniqueId* id) { memset(id, 7, sizeof(*id)); return 0; }
int ncclCommInitAll(Comm** comms, int n, const int* devs) {
  (void)devs;
  for (int i = 0; i < n; i++) { comms[i] = malloc(sizeof(Comm)); comms[i]->rank = i; comms[i]->n = n; }
  return 0;
}
int ncclCommInitRank(Comm** c, int n, ncclUniqueId id, int rank) { (void)id; *c = malloc(sizeof(Comm)); (*c)->rank = rank; (*c)->n = n; return 0; }
int ncclCommDestroy(Comm* c) { free(c); return 0; }
int ncclGroupStart(void) { return 0; }
int ncclSend(const void* b, size_t n, int t, int peer, Comm* c, void* s) { (void)t; (void)s; group[nGroup++] = (Op){1, c, peer, (void*)b, n}; return 0; }
int ncclRecv(void* b, size_t n, int t, int peer, Comm* c, void* s) { (void)t; (void)s; group[nGroup++] = (Op){0, c, peer, b, n}; return 0; }
int ncclGroupEnd(void) {
  int ops = nGroup;
  nGroup = 0;
  if (getenv("FAKE_NCCL_FAIL")) return 3;  // ncclInternalError
  pthread_mutex_lock(&mu);
  for (int i = 0; i < ops; i++) {
    if (!group[i].send) continue;
    Msg* m = malloc(sizeof(Msg));
    *m = (Msg){group[i].comm->rank, group[i].peer, group[i].n, malloc(group[i].n), NULL};
    memcpy(m->data, group[i].buf, group[i].n);
    Msg** at = &queue;
    while (*at) at = &(*at)->next;
    *at = m;
  }
  int rc = 0;
  for (int i = 0; i < ops && !rc; i++) {
    if (group[i].send) continue;
    for (int waited = 0;; waited++) {
      Msg** at = &queue;
      while (*at && !((*at)->from == group[i].peer && (*at)->to == group[i].comm->rank)) at = &(*at)->next;
      if (*at) {
        Msg* m = *at;
        if (m->n != group[i].n) { rc = 4; break; }  // ncclInvalidArgument: sizes differ
        memcpy(group[i].buf, m->data, m->n);
        *at = m->next;
        free(m->data);
        free(m);
        break;
      }
      if (waited >= 5000) { rc = 5; break; }  // no matching send within 5 s (real NCCL would hang)
      pthread_mutex_unlock(&mu);
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&mu);
    }
  }
  pthread_mutex_unlock(&mu);
  return rc;
}
const char* ncclGetErrorString(int e) {
  switch (e) { case 3: return "fake: internal error"; case 4: return "fake: send and receive sizes differ"; case 5: return "fake: receive without a matching send"; default: return "fake nccl error"; }
}
