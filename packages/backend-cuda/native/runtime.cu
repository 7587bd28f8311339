// The addon's runtime: device selection, the stream, buffers over a caching allocator, host <->
// device copies (async reads on the libuv pool), events for timing, and the Node-API surface.
// Kernel entries (kernel_<name>) are dispatched by their index in BMOJO_KERNELS, which matches
// KERNEL_NAMES in @bmojo/tensor.
#include <cublas_v2.h>
#include <node_api.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.cuh"
#include "device_state.cuh"

namespace bmojo {

namespace {

struct Buffer {
  void* ptr;
  size_t bytes;     // as asked for
  size_t capacity;  // as allocated (a size class of the cache)
  bool view;        // a range of another buffer: freeing it releases no memory
};

struct State {
  bool ready = false;
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  std::unordered_map<int64_t, Buffer> buffers;
  int64_t nextId = 1;
  // Caching allocator: free blocks by capacity.
  std::map<size_t, std::vector<void*>> cache;
  size_t cachedBytes = 0;
  size_t liveBytes = 0;
  size_t peakBytes = 0;
  std::unordered_map<void*, size_t> scratch;  // scratch pointer -> capacity
  std::unordered_map<int64_t, cudaEvent_t> events;
  int64_t nextEvent = 1;
  // Pinned staging blocks for async reads, by capacity.
  std::map<size_t, std::vector<void*>> pinned;
  // Zeroed uint32 counters lent to kernels that leave them zeroed (see zeroedCounters).
  void* counters = nullptr;
  size_t counterCapacity = 0;  // counters held
  // Program capture (CUDA graphs). While capturing, blocks come from and go back to the capture's
  // pool; a block in a pool stays there (free or lent to a buffer) until its program is disposed,
  // so the graph's addresses are never handed to other work. One program lives at a time: a
  // capture is open (capturing) or a program holds the pool (programId ≠ 0).
  bool capturing = false;
  std::unordered_map<void*, size_t> pooled;            // every block the pool holds -> capacity
  std::map<size_t, std::vector<void*>> poolFree;       // its free blocks, by capacity
  std::vector<std::pair<void*, size_t>> poolStaging;   // pinned sources of captured writes
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t graphExec = nullptr;
  int64_t programId = 0;                               // of the live program (0: none)
};

State g;

void requireReady() {
  if (!g.ready) throw std::runtime_error("the cuda backend is not initialised (call init first) or was disposed");
}

size_t sizeClass(size_t bytes) {
  if (bytes < 512) return 512;
  if (bytes <= (1u << 20)) {
    size_t c = 512;
    while (c < bytes) c <<= 1;
    return c;
  }
  const size_t step = 2u << 20;  // 2 MiB granules above 1 MiB
  return (bytes + step - 1) / step * step;
}

void releaseCache() {
  for (auto& [cap, ptrs] : g.cache) {
    for (void* p : ptrs) cudaFree(p);
  }
  g.cache.clear();
  g.cachedBytes = 0;
}

void* generalAlloc(size_t cap);

void* deviceAlloc(size_t bytes) {
  const size_t cap = sizeClass(bytes);
  if (!g.capturing) return generalAlloc(cap);
  auto it = g.poolFree.find(cap);
  if (it != g.poolFree.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    return p;
  }
  void* p = generalAlloc(cap);
  g.pooled[p] = cap;
  return p;
}

void* generalAlloc(size_t cap) {
  auto it = g.cache.find(cap);
  if (it != g.cache.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    g.cachedBytes -= cap;
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cap);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    releaseCache();
    e = cudaMalloc(&p, cap);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error("cudaMalloc of " + std::to_string(cap) + " bytes failed: " + cudaGetErrorString(e) +
                             " (" + std::to_string(g.liveBytes) + " bytes live in buffers)");
  }
  return p;
}

void deviceRelease(void* p, size_t cap) {
  // Stream-ordered reuse: every user of the block is on the one stream, so a later kernel that
  // gets this block runs after every earlier kernel that used it. A block the capture may touch
  // goes to the program's pool instead.
  if (g.pooled.count(p) != 0 || g.capturing) {
    g.pooled[p] = cap;
    g.poolFree[cap].push_back(p);
    return;
  }
  g.cache[cap].push_back(p);
  g.cachedBytes += cap;
}

void pinnedRelease(void* p, size_t cap);

/** Ends the live program: its free blocks go back to the cache, blocks still lent stay with
 *  their buffers (freed to the cache as usual), staging blocks go back to the pinned cache. */
void dropProgram() {
  if (g.graphExec != nullptr) cudaGraphExecDestroy(g.graphExec);
  if (g.graph != nullptr) cudaGraphDestroy(g.graph);
  g.graphExec = nullptr;
  g.graph = nullptr;
  for (auto& [cap, ptrs] : g.poolFree) {
    for (void* p : ptrs) {
      g.cache[cap].push_back(p);
      g.cachedBytes += cap;
    }
  }
  g.poolFree.clear();
  g.pooled.clear();
  for (auto& [p, cap] : g.poolStaging) pinnedRelease(p, cap);
  g.poolStaging.clear();
  g.programId = 0;
}

void* pinnedAcquire(size_t bytes, size_t* capOut) {
  const size_t cap = sizeClass(bytes);
  *capOut = cap;
  auto it = g.pinned.find(cap);
  if (it != g.pinned.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    return p;
  }
  void* p = nullptr;
  check(cudaMallocHost(&p, cap), "cudaMallocHost (read staging)");
  return p;
}

void pinnedRelease(void* p, size_t cap) { g.pinned[cap].push_back(p); }

}  // namespace

cudaStream_t stream() { return g.stream; }

cublasHandle_t blasHandle() { return g.blas; }

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  }
}

void* devicePtr(int64_t id) {
  auto it = g.buffers.find(id);
  if (it == g.buffers.end()) throw std::invalid_argument("unknown or freed buffer id " + std::to_string(id));
  return it->second.ptr;
}

size_t bufferBytes(int64_t id) {
  auto it = g.buffers.find(id);
  if (it == g.buffers.end()) throw std::invalid_argument("unknown or freed buffer id " + std::to_string(id));
  return it->second.bytes;
}

void* acquireScratch(size_t bytes) {
  void* p = deviceAlloc(bytes);
  g.scratch[p] = sizeClass(bytes);
  return p;
}

void releaseScratch(void* ptr) {
  auto it = g.scratch.find(ptr);
  if (it == g.scratch.end()) return;
  deviceRelease(ptr, it->second);
  g.scratch.erase(it);
}

bool capturing() { return g.capturing; }

/** Whether a capture is open or a captured program holds the pool. */
bool programHeld() { return g.capturing || g.programId != 0; }

unsigned* zeroedCounters(size_t count) {
  if (count > g.counterCapacity) {
    if (g.capturing) {
      // The clearing memset would only run at replay; the eager kernels after it need zeros now.
      throw std::runtime_error("zeroedCounters: " + std::to_string(count) +
                               " counters asked for while capturing, more than the " +
                               std::to_string(g.counterCapacity) + " reserved at beginCapture");
    }
    if (g.counters != nullptr) deviceRelease(g.counters, sizeClass(g.counterCapacity * sizeof(unsigned)));
    const size_t capacity = std::max<size_t>(count, 2 * g.counterCapacity);
    g.counters = deviceAlloc(capacity * sizeof(unsigned));
    g.counterCapacity = capacity;
    bmojo::check(cudaMemsetAsync(g.counters, 0, capacity * sizeof(unsigned), g.stream), "zeroedCounters");
  }
  return static_cast<unsigned*>(g.counters);
}

int smCount() {
  static const int count = [] {
    int device = 0;
    int n = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        n <= 0) {
      cudaGetLastError();  // clear a sticky-free error from the query
      n = 132;             // H100/H200
    }
    return n;
  }();
  return count;
}

}  // namespace bmojo

// ---------------------------------------------------------------------------------------------
// Node-API surface.

using namespace bmojo;

namespace {

#define NAPI_OK(call)                                                   \
  do {                                                                  \
    napi_status status_ = (call);                                       \
    if (status_ != napi_ok) throw std::runtime_error("N-API call failed: " #call); \
  } while (0)

napi_value undefinedValue(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value number(napi_env env, double x) {
  napi_value v;
  NAPI_OK(napi_create_double(env, x, &v));
  return v;
}

napi_value str(napi_env env, const std::string& s) {
  napi_value v;
  NAPI_OK(napi_create_string_utf8(env, s.c_str(), s.size(), &v));
  return v;
}

void setProp(napi_env env, napi_value obj, const char* key, napi_value v) {
  NAPI_OK(napi_set_named_property(env, obj, key, v));
}

struct CallInfo {
  napi_value argv[4];
  size_t argc = 4;
};

CallInfo args(napi_env env, napi_callback_info info) {
  CallInfo c;
  NAPI_OK(napi_get_cb_info(env, info, &c.argc, c.argv, nullptr, nullptr));
  return c;
}

double argNumber(napi_env env, const CallInfo& c, size_t i, const char* name) {
  double v;
  if (i >= c.argc || napi_get_value_double(env, c.argv[i], &v) != napi_ok) {
    throw std::invalid_argument(std::string("argument '") + name + "' must be a number");
  }
  return v;
}

/** Throws while a capture is open: `what` needs a result that nothing has computed yet. */
void requireNotCapturing(const char* what) {
  if (g.capturing) {
    throw std::runtime_error(std::string(what) +
                             " while capturing a program: nothing has run yet; read after endCapture and a replay");
  }
}

/** Runs `body`, turning C++ exceptions into JS exceptions. */
template <typename F>
napi_value guarded(napi_env env, F body) {
  try {
    return body();
  } catch (const std::range_error& e) {
    napi_throw_range_error(env, nullptr, e.what());
  } catch (const std::invalid_argument& e) {
    napi_throw_type_error(env, nullptr, e.what());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// init(device?) -> { name, computeCapability, totalMemory, multiprocessors, runtimeVersion, driverVersion }
napi_value Init(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo c = args(env, info);
    int device = c.argc > 0 ? static_cast<int>(argNumber(env, c, 0, "device")) : 0;
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (count == 0) throw std::runtime_error("no CUDA device is visible");
    if (device < 0 || device >= count) {
      throw std::range_error("device " + std::to_string(device) + " does not exist; " + std::to_string(count) +
                             " visible device(s): use 0.." + std::to_string(count - 1));
    }
    if (!g.ready) {
      g.device = device;
      check(cudaSetDevice(device), "cudaSetDevice");
      check(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking), "cudaStreamCreate");
      if (cublasCreate(&g.blas) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
      cublasSetStream(g.blas, g.stream);
      g.ready = true;
    }
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, g.device), "cudaGetDeviceProperties");
    int runtimeVersion = 0, driverVersion = 0;
    cudaRuntimeGetVersion(&runtimeVersion);
    cudaDriverGetVersion(&driverVersion);
    napi_value o;
    NAPI_OK(napi_create_object(env, &o));
    setProp(env, o, "name", str(env, prop.name));
    setProp(env, o, "device", number(env, g.device));
    setProp(env, o, "computeCapability", str(env, std::to_string(prop.major) + "." + std::to_string(prop.minor)));
    setProp(env, o, "totalMemory", number(env, static_cast<double>(prop.totalGlobalMem)));
    setProp(env, o, "multiprocessors", number(env, prop.multiProcessorCount));
    setProp(env, o, "runtimeVersion", number(env, runtimeVersion));
    setProp(env, o, "driverVersion", number(env, driverVersion));
    return o;
  });
}

napi_value Alloc(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    CallInfo c = args(env, info);
    double bytes = argNumber(env, c, 0, "bytes");
    if (!(bytes >= 0)) throw std::range_error("alloc: bytes must be >= 0");
    size_t n = static_cast<size_t>(bytes);
    void* p = deviceAlloc(n);
    int64_t id = g.nextId++;
    g.buffers[id] = Buffer{p, n, sizeClass(n), false};
    g.liveBytes += n;
    if (g.liveBytes > g.peakBytes) g.peakBytes = g.liveBytes;
    return number(env, static_cast<double>(id));
  });
}

napi_value Free(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo c = args(env, info);
    int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "id"));
    auto it = g.buffers.find(id);
    if (it == g.buffers.end()) throw std::invalid_argument("free: unknown or already freed buffer id " + std::to_string(id));
    if (!it->second.view) {
      deviceRelease(it->second.ptr, it->second.capacity);
      g.liveBytes -= it->second.bytes;
    }
    g.buffers.erase(it);
    return undefinedValue(env);
  });
}

// view(id, byteOffset, bytes): a buffer id for a range of buffer id (sharing its memory), or null
// when the range does not start on a 16-byte boundary (kernels load float4s from buffer starts).
napi_value View(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo c = args(env, info);
    int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "id"));
    double offset = argNumber(env, c, 1, "byteOffset");
    double bytes = argNumber(env, c, 2, "bytes");
    auto it = g.buffers.find(id);
    if (it == g.buffers.end()) throw std::invalid_argument("view: unknown or freed buffer id " + std::to_string(id));
    if (!(offset >= 0 && bytes >= 0 && offset + bytes <= static_cast<double>(it->second.bytes))) {
      throw std::range_error("view: the range is outside buffer " + std::to_string(id));
    }
    size_t off = static_cast<size_t>(offset);
    if (off % 16 != 0) {
      napi_value nullValue;
      napi_get_null(env, &nullValue);
      return nullValue;
    }
    int64_t viewId = g.nextId++;
    g.buffers[viewId] = Buffer{static_cast<char*>(it->second.ptr) + off, static_cast<size_t>(bytes), 0, true};
    return number(env, static_cast<double>(viewId));
  });
}

// write(id, typedArray): copies the array's bytes to the start of the buffer.
napi_value Write(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    CallInfo c = args(env, info);
    int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "id"));
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t offset;
    if (c.argc < 2 || napi_get_typedarray_info(env, c.argv[1], &type, &length, &data, &ab, &offset) != napi_ok) {
      throw std::invalid_argument("write: data must be a typed array");
    }
    size_t elem = (type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array) ? 8
                  : (type == napi_int8_array || type == napi_uint8_array || type == napi_uint8_clamped_array) ? 1
                  : (type == napi_int16_array || type == napi_uint16_array) ? 2
                                                                              : 4;
    size_t bytes = length * elem;
    if (bytes > bufferBytes(id)) {
      throw std::range_error("write: " + std::to_string(bytes) + " bytes do not fit buffer " + std::to_string(id) +
                             " of " + std::to_string(bufferBytes(id)) + " bytes");
    }
    if (bytes == 0) return undefinedValue(env);
    const void* source = data;
    if (g.capturing) {
      // The graph copies from a pinned block the program keeps: the caller's array may be gone by
      // the time it replays.
      size_t cap = 0;
      void* staging = pinnedAcquire(bytes, &cap);
      std::memcpy(staging, data, bytes);
      g.poolStaging.emplace_back(staging, cap);
      source = staging;
    }
    check(cudaMemcpyAsync(devicePtr(id), source, bytes, cudaMemcpyHostToDevice, g.stream), "write");
    return undefinedValue(env);
  });
}

// readSync(id, bytes) -> ArrayBuffer (blocks until the stream reaches the copy).
napi_value ReadSync(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("readSync");
    CallInfo c = args(env, info);
    int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "id"));
    size_t bytes = static_cast<size_t>(argNumber(env, c, 1, "bytes"));
    if (bytes > bufferBytes(id)) throw std::range_error("read: more bytes than the buffer holds");
    void* out;
    napi_value ab;
    NAPI_OK(napi_create_arraybuffer(env, bytes, &out, &ab));
    if (bytes > 0) {
      check(cudaMemcpyAsync(out, devicePtr(id), bytes, cudaMemcpyDeviceToHost, g.stream), "readSync");
      check(cudaStreamSynchronize(g.stream), "readSync (a kernel before it failed)");
    }
    return ab;
  });
}

struct ReadWork {
  napi_async_work work;
  napi_deferred deferred;
  cudaEvent_t done;
  void* staging;
  size_t capacity;
  size_t bytes;
  cudaError_t error;
  bool copy;  // false for sync(): resolve with undefined
};

void ReadExecute(napi_env, void* data) {
  ReadWork* w = static_cast<ReadWork*>(data);
  cudaSetDevice(g.device);
  w->error = cudaEventSynchronize(w->done);
}

void ReadComplete(napi_env env, napi_status, void* data) {
  ReadWork* w = static_cast<ReadWork*>(data);
  cudaEventDestroy(w->done);
  if (w->error != cudaSuccess) {
    napi_value msg, err;
    std::string text = std::string("cuda: a kernel or copy before this read failed: ") + cudaGetErrorName(w->error) +
                       " (" + cudaGetErrorString(w->error) + ")";
    napi_create_string_utf8(env, text.c_str(), text.size(), &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, w->deferred, err);
  } else if (w->copy) {
    void* out;
    napi_value ab;
    napi_create_arraybuffer(env, w->bytes, &out, &ab);
    if (w->bytes > 0) std::memcpy(out, w->staging, w->bytes);
    napi_resolve_deferred(env, w->deferred, ab);
  } else {
    napi_resolve_deferred(env, w->deferred, undefinedValue(env));
  }
  if (w->staging != nullptr) pinnedRelease(w->staging, w->capacity);
  napi_delete_async_work(env, w->work);
  delete w;
}

napi_value queueWait(napi_env env, ReadWork* w) {
  napi_value promise, name;
  NAPI_OK(napi_create_promise(env, &w->deferred, &promise));
  check(cudaEventCreateWithFlags(&w->done, cudaEventDisableTiming), "cudaEventCreate");
  check(cudaEventRecord(w->done, g.stream), "cudaEventRecord");
  NAPI_OK(napi_create_string_utf8(env, "bmojo-cuda-wait", NAPI_AUTO_LENGTH, &name));
  NAPI_OK(napi_create_async_work(env, nullptr, name, ReadExecute, ReadComplete, w, &w->work));
  NAPI_OK(napi_queue_async_work(env, w->work));
  return promise;
}

// read(id, bytes) -> Promise<ArrayBuffer>; the wait happens off the event loop.
napi_value Read(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("read");
    CallInfo c = args(env, info);
    int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "id"));
    size_t bytes = static_cast<size_t>(argNumber(env, c, 1, "bytes"));
    if (bytes > bufferBytes(id)) throw std::range_error("read: more bytes than the buffer holds");
    ReadWork* w = new ReadWork{};
    w->copy = true;
    w->bytes = bytes;
    w->staging = pinnedAcquire(bytes, &w->capacity);
    if (bytes > 0) {
      check(cudaMemcpyAsync(w->staging, devicePtr(id), bytes, cudaMemcpyDeviceToHost, g.stream), "read");
    }
    return queueWait(env, w);
  });
}

// readMany(Float64Array [id, bytes, id, bytes, ...]) -> Promise<ArrayBuffer>: the buffers' first
// bytes side by side, each starting at a multiple of 8 bytes; one wait for all of them.
napi_value ReadMany(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("readMany");
    CallInfo c = args(env, info);
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t offset;
    if (c.argc < 1 || napi_get_typedarray_info(env, c.argv[0], &type, &length, &data, &ab, &offset) != napi_ok ||
        type != napi_float64_array || length % 2 != 0) {
      throw std::invalid_argument("readMany: arguments must be a Float64Array of (id, bytes) pairs");
    }
    const double* pairs = static_cast<const double*>(data);
    size_t total = 0;
    for (size_t i = 0; i < length; i += 2) {
      const size_t bytes = static_cast<size_t>(pairs[i + 1]);
      if (bytes > bufferBytes(static_cast<int64_t>(pairs[i]))) {
        throw std::range_error("readMany: more bytes than a buffer holds");
      }
      total = (total + 7) / 8 * 8 + bytes;
    }
    ReadWork* w = new ReadWork{};
    w->copy = true;
    w->bytes = total;
    w->staging = pinnedAcquire(total, &w->capacity);
    size_t at = 0;
    for (size_t i = 0; i < length; i += 2) {
      const size_t bytes = static_cast<size_t>(pairs[i + 1]);
      at = (at + 7) / 8 * 8;
      if (bytes > 0) {
        check(cudaMemcpyAsync(static_cast<char*>(w->staging) + at, devicePtr(static_cast<int64_t>(pairs[i])),
                              bytes, cudaMemcpyDeviceToHost, g.stream),
              "readMany");
      }
      at += bytes;
    }
    return queueWait(env, w);
  });
}

// sync() -> Promise<void>: resolves when all work issued so far has finished.
napi_value Sync(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("sync");
    ReadWork* w = new ReadWork{};
    w->copy = false;
    return queueWait(env, w);
  });
}

napi_value SyncBlocking(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("syncBlocking");
    check(cudaStreamSynchronize(g.stream), "sync (a kernel before it failed)");
    return undefinedValue(env);
  });
}

napi_value NumBuffers(napi_env env, napi_callback_info) {
  return number(env, static_cast<double>(g.buffers.size()));
}

napi_value MemoryStats(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value o;
    NAPI_OK(napi_create_object(env, &o));
    size_t freeB = 0, totalB = 0;
    if (g.ready) cudaMemGetInfo(&freeB, &totalB);
    setProp(env, o, "liveBytes", number(env, static_cast<double>(g.liveBytes)));
    setProp(env, o, "peakBytes", number(env, static_cast<double>(g.peakBytes)));
    setProp(env, o, "cachedBytes", number(env, static_cast<double>(g.cachedBytes)));
    setProp(env, o, "deviceFreeBytes", number(env, static_cast<double>(freeB)));
    setProp(env, o, "deviceTotalBytes", number(env, static_cast<double>(totalB)));
    return o;
  });
}

napi_value ResetPeak(napi_env env, napi_callback_info) {
  g.peakBytes = g.liveBytes;
  return undefinedValue(env);
}

napi_value EmptyCache(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("emptyCache");
    check(cudaStreamSynchronize(g.stream), "emptyCache");
    releaseCache();
    return undefinedValue(env);
  });
}

// recordEvent() -> id: an event recorded on the stream now.
napi_value RecordEvent(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    requireNotCapturing("recordEvent");
    cudaEvent_t e;
    check(cudaEventCreate(&e), "cudaEventCreate");
    check(cudaEventRecord(e, g.stream), "cudaEventRecord");
    int64_t id = g.nextEvent++;
    g.events[id] = e;
    return number(env, static_cast<double>(id));
  });
}

// elapsedMs(start, end): waits for `end`, returns milliseconds between the two, frees both.
napi_value ElapsedMs(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo c = args(env, info);
    int64_t a = static_cast<int64_t>(argNumber(env, c, 0, "start"));
    int64_t b = static_cast<int64_t>(argNumber(env, c, 1, "end"));
    auto ia = g.events.find(a), ib = g.events.find(b);
    if (ia == g.events.end() || ib == g.events.end()) throw std::invalid_argument("elapsedMs: unknown event id");
    check(cudaEventSynchronize(ib->second), "elapsedMs (a kernel before it failed)");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, ia->second, ib->second), "cudaEventElapsedTime");
    cudaEventDestroy(ia->second);
    cudaEventDestroy(ib->second);
    g.events.erase(a);
    g.events.erase(b);
    return number(env, ms);
  });
}

using KernelEntry = void (*)(bmojo::Args&);
#define BMOJO_ENTRY(name) &kernel_##name,
const KernelEntry kEntries[] = {BMOJO_KERNELS(BMOJO_ENTRY)};
#undef BMOJO_ENTRY
constexpr int kNumEntries = sizeof(kEntries) / sizeof(kEntries[0]);

// run(kernelIndex, Float64Array args)
napi_value Run(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    CallInfo c = args(env, info);
    int index = static_cast<int>(argNumber(env, c, 0, "kernel"));
    if (index < 0 || index >= kNumEntries) throw std::range_error("run: unknown kernel index " + std::to_string(index));
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t offset;
    if (c.argc < 2 || napi_get_typedarray_info(env, c.argv[1], &type, &length, &data, &ab, &offset) != napi_ok ||
        type != napi_float64_array) {
      throw std::invalid_argument("run: arguments must be a Float64Array");
    }
    bmojo::Args a(static_cast<const double*>(data), length);
    kEntries[index](a);
    return undefinedValue(env);
  });
}

constexpr size_t kCaptureCounters = 4096;

// beginCapture(): records the stream's work into a graph until endCapture.
napi_value BeginCapture(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    if (g.capturing) throw std::runtime_error("beginCapture: a capture is already open");
    if (programHeld()) {
      throw std::runtime_error("beginCapture: a captured program is still live; dispose it before capturing another");
    }
    zeroedCounters(kCaptureCounters);  // cleared eagerly now, not inside the graph
    // Relaxed mode: the pool may need a cudaMalloc (and a captured write a pinned staging block)
    // while capturing, which the stricter modes refuse. What relaxed mode no longer catches (a sync
    // or a read of the capturing stream) the backend refuses itself (requireNotCapturing).
    check(cudaStreamBeginCapture(g.stream, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    g.capturing = true;
    return undefinedValue(env);
  });
}

// endCapture() -> { id, nodes }: the program; throws (having dropped it) when the capture failed.
napi_value EndCapture(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    if (!g.capturing) throw std::runtime_error("endCapture without beginCapture");
    g.capturing = false;
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(g.stream, &graph);
    g.graph = graph;
    if (ended != cudaSuccess) {
      cudaGetLastError();
      dropProgram();
      throw std::runtime_error(std::string("endCapture: the capture failed: ") + cudaGetErrorName(ended) + " (" +
                               cudaGetErrorString(ended) +
                               "); something synchronised or read while capturing, or a kernel could not be captured");
    }
    const cudaError_t made = cudaGraphInstantiate(&g.graphExec, g.graph, 0);
    if (made != cudaSuccess) {
      cudaGetLastError();
      g.graphExec = nullptr;
      dropProgram();
      check(made, "cudaGraphInstantiate");
    }
    size_t nodes = 0;
    check(cudaGraphGetNodes(g.graph, nullptr, &nodes), "cudaGraphGetNodes");
    g.programId = g.nextEvent++;
    napi_value o;
    NAPI_OK(napi_create_object(env, &o));
    setProp(env, o, "id", number(env, static_cast<double>(g.programId)));
    setProp(env, o, "nodes", number(env, static_cast<double>(nodes)));
    return o;
  });
}

void requireProgram(int64_t id, const char* what) {
  if (g.capturing || id == 0 || id != g.programId) {
    throw std::invalid_argument(std::string(what) + ": program " + std::to_string(id) + " is not live (disposed, or never captured)");
  }
}

// replay(id): launches the program's graph on the stream.
napi_value Replay(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    requireReady();
    CallInfo c = args(env, info);
    const int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "program"));
    requireProgram(id, "replay");
    check(cudaGraphLaunch(g.graphExec, g.stream), "cudaGraphLaunch");
    return undefinedValue(env);
  });
}

// programLive() -> boolean: whether a capture is open or a captured program is live.
napi_value ProgramLive(napi_env env, napi_callback_info) {
  return guarded(env, [&]() -> napi_value {
    napi_value v;
    NAPI_OK(napi_get_boolean(env, programHeld(), &v));
    return v;
  });
}

// disposeProgram(id): drops the graph; the pool's blocks return to the cache.
napi_value DisposeProgram(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo c = args(env, info);
    const int64_t id = static_cast<int64_t>(argNumber(env, c, 0, "program"));
    if (!g.capturing && id != 0 && id == g.programId) dropProgram();
    return undefinedValue(env);
  });
}

napi_value Dispose(napi_env env, napi_callback_info) {
  if (!g.ready) return undefinedValue(env);
  if (g.capturing) {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(g.stream, &graph);
    cudaGetLastError();
    g.capturing = false;
    g.graph = graph;
  }
  dropProgram();
  cudaStreamSynchronize(g.stream);
  for (auto& [id, b] : g.buffers) {
    if (!b.view) cudaFree(b.ptr);
  }
  g.buffers.clear();
  for (auto& [p, cap] : g.scratch) cudaFree(p);
  g.scratch.clear();
  if (g.counters != nullptr) cudaFree(g.counters);
  g.counters = nullptr;
  g.counterCapacity = 0;
  releaseCache();
  for (auto& [cap, ptrs] : g.pinned) {
    for (void* p : ptrs) cudaFreeHost(p);
  }
  g.pinned.clear();
  for (auto& [id, e] : g.events) cudaEventDestroy(e);
  g.events.clear();
  cublasDestroy(g.blas);
  cudaStreamDestroy(g.stream);
  g.liveBytes = g.peakBytes = 0;
  g.ready = false;
  return undefinedValue(env);
}

napi_value ModuleInit(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"init", nullptr, Init, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"alloc", nullptr, Alloc, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"free", nullptr, Free, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"view", nullptr, View, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"write", nullptr, Write, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"read", nullptr, Read, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"readSync", nullptr, ReadSync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"readMany", nullptr, ReadMany, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sync", nullptr, Sync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"syncBlocking", nullptr, SyncBlocking, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"numBuffers", nullptr, NumBuffers, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"memoryStats", nullptr, MemoryStats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"resetPeak", nullptr, ResetPeak, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"emptyCache", nullptr, EmptyCache, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"recordEvent", nullptr, RecordEvent, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"elapsedMs", nullptr, ElapsedMs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"run", nullptr, Run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"beginCapture", nullptr, BeginCapture, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"endCapture", nullptr, EndCapture, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"replay", nullptr, Replay, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"disposeProgram", nullptr, DisposeProgram, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"programLive", nullptr, ProgramLive, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dispose", nullptr, Dispose, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value count;
  napi_create_int32(env, kNumEntries, &count);
  napi_set_named_property(env, exports, "kernelCount", count);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, ModuleInit)
