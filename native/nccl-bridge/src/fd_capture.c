// fd_capture.node: points a process file descriptor (1 or 2) at an anonymous in-memory file for the length of a
// synchronous call, then puts it back and returns what was written. Dawn writes some warnings with fprintf(stderr)
// (dawn::WarningLog, e.g. "maxDynamic...BuffersPerPipelineLayout artificially reduced" on every requestAdapter)
// and dawn.node prints the device log (Tint compilation warnings) with printf(stdout); neither has a hook, so the
// engine (src/gpu/native-output.ts) captures the descriptor around those calls and replays what is not known noise.
// Plain C and Node-API only: builds anywhere node_api.h is, with no GPU, CUDA or Vulkan headers.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/syscall.h>
#endif

// Held from begin() to end(): a capture is process-wide (it moves a descriptor), so one in another thread (worker
// threads) waits instead of interleaving, which could leave fd pointing at a closed capture. Recursive, because
// captures nest in one thread (a test capturing around a command whose engine captures too).
static pthread_mutex_t capture_lock;
static pthread_once_t capture_lock_once = PTHREAD_ONCE_INIT;
static void init_capture_lock(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&capture_lock, &a);
  pthread_mutexattr_destroy(&a);
}

static napi_value throw_errno(napi_env env, const char* what) {
  char msg[256];
  snprintf(msg, sizeof msg, "fd_capture: %s failed: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int arg_int(napi_env env, napi_callback_info info, size_t n, int32_t* out) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) return 0;
  for (size_t i = 0; i < n; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) return 0;
  }
  return 1;
}

// An unnamed file: memfd on Linux (no filesystem needed), else an unlinked tmpfile.
static int anon_file(void) {
#if defined(__linux__) && defined(SYS_memfd_create)
  int fd = (int)syscall(SYS_memfd_create, "dit-fd-capture", 1u /* MFD_CLOEXEC */);
  if (fd >= 0) return fd;
#endif
  FILE* f = tmpfile();
  if (!f) return -1;
  int fd2 = fcntl(fileno(f), F_DUPFD_CLOEXEC, 3);
  fclose(f);
  return fd2;
}

// begin(fd) -> [savedFd, captureFd]: flushes C stdio (so earlier output goes where it was meant to), then fd
// writes into the capture file until end().
static napi_value Begin(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!arg_int(env, info, 1, &fd) || (fd != 1 && fd != 2)) {
    napi_throw_range_error(env, NULL, "fd_capture.begin(fd): fd must be 1 or 2");
    return NULL;
  }
  pthread_once(&capture_lock_once, init_capture_lock);
  pthread_mutex_lock(&capture_lock);
  fflush(NULL);
  int cap = anon_file();
  if (cap < 0) {
    pthread_mutex_unlock(&capture_lock);
    return throw_errno(env, "creating the capture file");
  }
  int saved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (saved < 0) {
    close(cap);
    pthread_mutex_unlock(&capture_lock);
    return throw_errno(env, "dup");
  }
  if (dup2(cap, fd) < 0) {
    close(cap);
    close(saved);
    pthread_mutex_unlock(&capture_lock);
    return throw_errno(env, "dup2");
  }
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, saved, &a);
  napi_create_int32(env, cap, &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

// end(fd, savedFd, captureFd) -> string: flushes C stdio into the capture, restores fd, returns the text.
static napi_value End(napi_env env, napi_callback_info info) {
  int32_t v[3];
  if (!arg_int(env, info, 3, v)) {
    napi_throw_type_error(env, NULL, "fd_capture.end(fd, savedFd, captureFd): three integers");
    return NULL;
  }
  int fd = v[0], saved = v[1], cap = v[2];
  fflush(NULL);
  int restored = dup2(saved, fd);
  close(saved);
  pthread_mutex_unlock(&capture_lock);  // begin() took it in this thread
  if (restored < 0) {
    close(cap);
    return throw_errno(env, "restoring the descriptor (dup2)");
  }
  off_t size = lseek(cap, 0, SEEK_END);
  char* buf = NULL;
  size_t got = 0;
  if (size > 0 && lseek(cap, 0, SEEK_SET) == 0) {
    buf = (char*)malloc((size_t)size);
    while (buf && got < (size_t)size) {
      ssize_t r = read(cap, buf + got, (size_t)size - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += (size_t)r;
    }
  }
  close(cap);
  napi_value out;
  napi_create_string_utf8(env, buf ? buf : "", got, &out);
  free(buf);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value f;
  napi_create_function(env, "begin", NAPI_AUTO_LENGTH, Begin, NULL, &f);
  napi_set_named_property(env, exports, "begin", f);
  napi_create_function(env, "end", NAPI_AUTO_LENGTH, End, NULL, &f);
  napi_set_named_property(env, exports, "end", f);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
