#include "dist/dist.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef OSVBENCH_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef OSVBENCH_DIST_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif
#ifdef OSVBENCH_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>

#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/progress.h"

namespace osv::dist {
namespace {

int parse_int(const char* name, const char* value, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(value, &end, 10);
  if (end == value || *end != '\0' || errno != 0 || v < lo || v > hi)
    throw UsageError(fmt::format("{}={} is not an integer in [{}, {}]", name, value, lo, hi));
  return static_cast<int>(v);
}

struct Group {
  Env env;
  c10::intrusive_ptr<c10d::TCPStore> store;
  std::string prefix;
  uint64_t seq = 0;
  std::string backend = "none";
  // Tensors' collectives when backend is "gloo" or "nccl" (null for "store"), and the device their
  // buckets live on (host memory for Gloo, this rank's GPU for NCCL).
  c10::intrusive_ptr<c10d::Backend> tensors_pg;
  c10::Device bucket_device = c10::Device(c10::kCPU);
};

std::mutex mu;
std::optional<Group> group;  // set by init()

Group& joined() {
  if (!group) init();
  return *group;
}

std::vector<uint8_t> to_bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string from_bytes(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

// One exchange: every rank publishes `mine` under fresh keys and reads every rank's (rank order).
// Values go in chunks (the store's server refuses payloads over 8 MiB); a rank's chunk count is
// written last, so a reader that sees it sees every chunk. The last rank to finish reading deletes
// the keys.
std::vector<std::string> exchange(Group& g, const std::string& mine, const std::string& what) {
  constexpr std::size_t kChunk = std::size_t{4} << 20;
  const std::string base = fmt::format("{}{}/{}/", g.prefix, what, g.seq++);
  auto count_key = [&](int r) { return base + std::to_string(r); };
  auto chunk_key = [&](int r, std::size_t i) { return fmt::format("{}{}/{}", base, r, i); };
  const std::size_t n = std::max<std::size_t>(1, (mine.size() + kChunk - 1) / kChunk);
  for (std::size_t i = 0; i < n; ++i)
    g.store->set(chunk_key(g.env.rank, i), to_bytes(mine.substr(std::min(mine.size(), i * kChunk), kChunk)));
  g.store->set(count_key(g.env.rank), to_bytes(std::to_string(n)));
  std::vector<std::string> counts;
  for (int r = 0; r < g.env.world; ++r) counts.push_back(count_key(r));
  g.store->wait(counts);
  std::vector<std::string> all(static_cast<std::size_t>(g.env.world));
  std::vector<std::size_t> chunks(all.size());
  for (int r = 0; r < g.env.world; ++r) {
    chunks[r] = std::stoull(from_bytes(g.store->get(count_key(r))));
    if (r == g.env.rank) {
      all[r] = mine;
      continue;
    }
    for (std::size_t i = 0; i < chunks[r]; ++i) all[r] += from_bytes(g.store->get(chunk_key(r, i)));
  }
  if (g.store->add(base + "read", 1) == g.env.world) {
    for (int r = 0; r < g.env.world; ++r) {
      for (std::size_t i = 0; i < chunks[r]; ++i) g.store->deleteKey(chunk_key(r, i));
      g.store->deleteKey(count_key(r));
    }
    g.store->deleteKey(base + "read");
  }
  return all;
}

// Collectives go in buckets of consecutive tensors of at most kBucketBytes (a larger tensor is a
// bucket of its own), so the host copies stay bounded at the paper's scale (SVD's 1.5 B parameters
// and their optimiser state would be tens of GB as one float64 buffer). [begin, end) per bucket.
constexpr int64_t kBucketBytes = int64_t{64} << 20;
std::vector<std::pair<std::size_t, std::size_t>> buckets_of(const std::vector<torch::Tensor>& tensors,
                                                            int64_t bytes_per_element) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  int64_t bytes = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) throw std::logic_error("dist: a collective got an undefined tensor");
    const int64_t b = tensors[i].numel() * (bytes_per_element > 0 ? bytes_per_element : tensors[i].element_size());
    if (out.empty() || bytes + b > kBucketBytes) {
      out.emplace_back(i, i);
      bytes = 0;
    }
    out.back().second = i + 1;
    bytes += b;
  }
  return out;
}

// Tensors [begin, end) flattened into one float64 buffer on `device` (a reduction's bucket).
torch::Tensor bucket(const std::vector<torch::Tensor>& tensors, std::size_t begin, std::size_t end, c10::Device device) {
  std::vector<torch::Tensor> flat;
  for (std::size_t i = begin; i < end; ++i) flat.push_back(tensors[i].detach().reshape({-1}).to(device, torch::kFloat64));
  return torch::cat(flat).contiguous();
}

void unbucket(const torch::Tensor& buf, const std::vector<torch::Tensor>& tensors, std::size_t begin, std::size_t end) {
  torch::NoGradGuard g;
  int64_t at = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const auto& t = tensors[i];
    const int64_t n = t.numel();
    t.copy_(buf.slice(0, at, at + n).view(t.sizes()).to(t.device(), t.scalar_type()));
    at += n;
  }
}

// Tensors [begin, end) as their raw bytes on `device` (a broadcast's bucket: a copy is exact in any dtype).
torch::Tensor byte_bucket(const std::vector<torch::Tensor>& tensors, std::size_t begin, std::size_t end,
                          c10::Device device) {
  std::vector<torch::Tensor> flat;
  for (std::size_t i = begin; i < end; ++i)
    flat.push_back(tensors[i].detach().to(device).contiguous().reshape({-1}).view(torch::kUInt8));
  return torch::cat(flat).contiguous();
}

void unbyte_bucket(const torch::Tensor& buf, const std::vector<torch::Tensor>& tensors, std::size_t begin,
                   std::size_t end) {
  torch::NoGradGuard g;
  int64_t at = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const auto& t = tensors[i];
    const int64_t n = t.numel() * t.element_size();
    // cloned: the slice's byte offset need not be aligned for t's dtype
    t.copy_(buf.slice(0, at, at + n).clone().view(t.scalar_type()).view(t.sizes()).to(t.device()));  // any device
    at += n;
  }
}

// How many CUDA devices this process sees (0 in a CPU build).
int cuda_devices() {
#ifdef OSVBENCH_DIST_CUDA
  return static_cast<int>(c10::cuda::device_count());
#else
  return 0;
#endif
}
bool sees_cuda() { return cuda_devices() > 0; }

// The ranks on this machine (torchrun's LOCAL_WORLD_SIZE; the world size when unset).
int local_world(int world) {
  const char* l = std::getenv("LOCAL_WORLD_SIZE");
  return l && *l ? parse_int("LOCAL_WORLD_SIZE", l, 1, 1 << 20) : world;
}

// OSVBENCH_DIST_BACKEND: nccl (the default where built with it and every local rank has a GPU of
// its own: NCCL refuses two ranks on one device), gloo (the default otherwise, where built with it)
// or store.
std::string choose_backend(int world) {
  const bool gpu_per_rank = cuda_devices() >= local_world(world);
  std::vector<std::string> built;
#ifdef OSVBENCH_WITH_NCCL
  built.push_back("nccl");
#endif
#ifdef OSVBENCH_WITH_GLOO
  built.push_back("gloo");
#endif
  built.push_back("store");
  std::string b;
  if (const char* e = std::getenv("OSVBENCH_DIST_BACKEND"); e && *e) b = e;
  if (b.empty()) {
    b = built.front();
    if (b == "nccl" && !gpu_per_rank) b = built.at(1);
  }
  if (std::find(built.begin(), built.end(), b) == built.end()) {
    if (b == "gloo") throw UsageError("OSVBENCH_DIST_BACKEND=gloo: this build has no Gloo (install libgloo-dev and rebuild)");
    if (b == "nccl")
      throw UsageError("OSVBENCH_DIST_BACKEND=nccl: this build has no NCCL (a CUDA build finds nccl.h in the CUDA "
                       "toolkit or the torch wheel's nvidia-nccl package)");
    throw UsageError(fmt::format("OSVBENCH_DIST_BACKEND={}: expected one of {}", b, fmt::join(built, ", ")));
  }
  if (b == "nccl" && !sees_cuda()) throw UsageError("OSVBENCH_DIST_BACKEND=nccl: no CUDA device is visible");
  if (b == "nccl" && !gpu_per_rank)
    throw UsageError(fmt::format("OSVBENCH_DIST_BACKEND=nccl: {} ranks on this machine but {} GPU(s) visible; NCCL "
                                 "needs one GPU per rank (use gloo or store to share GPUs)",
                                 local_world(world), cuda_devices()));
  return b;
}

std::string tensor_bytes(const torch::Tensor& buf) {
  return {reinterpret_cast<const char*>(buf.data_ptr()), static_cast<std::size_t>(buf.numel()) * buf.element_size()};
}

}  // namespace

Env env_from(const std::function<const char*(const char*)>& getenv) {
  Env e;
  const char* world = getenv("WORLD_SIZE");
  if (!world || !*world) return e;
  e.launched = true;
  e.world = parse_int("WORLD_SIZE", world, 1, 1 << 20);
  const char* rank = getenv("RANK");
  if (e.world > 1 && (!rank || !*rank)) throw UsageError("WORLD_SIZE is set but RANK is not (launch with torchrun)");
  if (rank && *rank) e.rank = parse_int("RANK", rank, 0, e.world - 1);
  if (const char* l = getenv("LOCAL_RANK"); l && *l) e.local_rank = parse_int("LOCAL_RANK", l, 0, 1 << 20);
  if (const char* a = getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  else if (e.world > 1) throw UsageError("WORLD_SIZE > 1 but MASTER_ADDR is not set (launch with torchrun)");
  if (const char* p = getenv("MASTER_PORT"); p && *p) e.master_port = parse_int("MASTER_PORT", p, 1, 65535);
  else if (e.world > 1) throw UsageError("WORLD_SIZE > 1 but MASTER_PORT is not set (launch with torchrun)");
  if (const char* r = getenv("TORCHELASTIC_RESTART_COUNT"); r && *r)
    e.restart_count = parse_int("TORCHELASTIC_RESTART_COUNT", r, 0, 1 << 20);
  if (const char* u = getenv("TORCHELASTIC_USE_AGENT_STORE"); u && *u) e.agent_store = std::string(u) == "True";
  return e;
}

void init() {
  std::lock_guard<std::mutex> lock(mu);
  if (group) return;
  Group g;
  g.env = env_from([](const char* n) { return std::getenv(n); });
  if (g.env.world > 1) {
    int timeout_s = 1800;
    if (const char* t = std::getenv("OSVBENCH_DIST_TIMEOUT_S"); t && *t)
      timeout_s = parse_int("OSVBENCH_DIST_TIMEOUT_S", t, 1, 1 << 24);
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(g.env.master_port);
    // Under torchrun the agent already serves the store on MASTER_PORT; otherwise rank 0 does.
    o.isServer = !g.env.agent_store && g.env.rank == 0;
    o.numWorkers = g.env.world;
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(timeout_s);
    try {
      g.store = c10::make_intrusive<c10d::TCPStore>(g.env.master_addr, o);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("rank {}/{}: cannot reach the process group's store at {}:{}: {}",
                                           g.env.rank, g.env.world, g.env.master_addr, g.env.master_port, e.what()));
    }
    g.prefix = fmt::format("osvbench/attempt_{}/", g.env.restart_count);
    g.backend = choose_backend(g.env.world);
#ifdef OSVBENCH_DIST_CUDA
    // One GPU per local rank (torchrun's convention): "cuda" in a config means this device.
    if (sees_cuda()) c10::cuda::set_device(static_cast<c10::DeviceIndex>(g.env.local_rank % c10::cuda::device_count()));
#endif
    try {
#ifdef OSVBENCH_WITH_GLOO
      if (g.backend == "gloo") {
        auto opts = c10d::ProcessGroupGloo::Options::create();
        opts->timeout = std::chrono::seconds(timeout_s);
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        auto prefixed = c10::make_intrusive<c10d::PrefixStore>(g.prefix + "gloo", g.store);
        g.tensors_pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, g.env.rank, g.env.world, opts);
      }
#endif
#ifdef OSVBENCH_WITH_NCCL
      if (g.backend == "nccl") {
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        opts->timeout = std::chrono::seconds(timeout_s);
        auto prefixed = c10::make_intrusive<c10d::PrefixStore>(g.prefix + "nccl", g.store);
        g.tensors_pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, g.env.rank, g.env.world, opts);
        g.bucket_device = c10::Device(c10::kCUDA, c10::cuda::current_device());
      }
#endif
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("rank {}/{}: cannot create the {} process group: {} (set "
                                           "OSVBENCH_DIST_BACKEND=store to use store collectives)",
                                           g.env.rank, g.env.world, g.backend, e.what()));
    }
    set_dir_locks_enabled(g.env.rank == 0);
    Progress::set_enabled(g.env.rank == 0);
    log::info("rank {}/{} (local {}): joined the process group at {}:{} ({} collectives{})", g.env.rank, g.env.world,
              g.env.local_rank, g.env.master_addr, g.env.master_port, g.backend,
              g.env.restart_count ? fmt::format(", restart {}", g.env.restart_count) : std::string());
  }
  group = std::move(g);
}

int rank() { return joined().env.rank; }
int world() { return joined().env.world; }
int local_rank() { return joined().env.local_rank; }
std::string backend() { return joined().backend; }

void all_reduce_mean(const std::vector<torch::Tensor>& tensors) {
  auto& g = joined();
  if (g.env.world == 1 || tensors.empty()) return;
  for (const auto& [begin, end] : buckets_of(tensors, sizeof(double))) {
    auto mine = bucket(tensors, begin, end, g.bucket_device);
    if (g.tensors_pg) {  // Gloo's ring or NCCL's all-reduce: every rank ends with the same bits
      std::vector<at::Tensor> t = {mine};
      g.tensors_pg->allreduce(t)->wait();
      unbucket(mine / static_cast<double>(g.env.world), tensors, begin, end);
      continue;
    }
    const auto all = exchange(g, tensor_bytes(mine), "all_reduce");
    auto sum = torch::zeros_like(mine);
    for (const auto& bytes : all) {  // rank order: the same bits on every rank
      if (bytes.size() != static_cast<std::size_t>(mine.numel()) * sizeof(double))
        throw std::runtime_error(fmt::format("all_reduce: ranks disagree on the bucket size ({} vs {} bytes)",
                                             bytes.size(), mine.numel() * sizeof(double)));
      sum.add_(torch::from_blob(const_cast<char*>(bytes.data()), {mine.numel()}, torch::kFloat64));
    }
    unbucket(sum / static_cast<double>(g.env.world), tensors, begin, end);
  }
}

bool all_true(bool flag) {
  auto& g = joined();
  if (g.env.world == 1) return flag;
  bool all = true;
  for (const auto& b : exchange(g, flag ? "1" : "0", "all_true")) all = all && b == "1";
  return all;
}

void broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  auto& g = joined();
  if (g.env.world == 1 || tensors.empty()) return;
  for (const auto& [begin, end] : buckets_of(tensors, 0)) {
    auto mine = byte_bucket(tensors, begin, end, g.bucket_device);
    if (g.tensors_pg) {
      std::vector<at::Tensor> t = {mine};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      g.tensors_pg->broadcast(t, o)->wait();
      unbyte_bucket(mine, tensors, begin, end);
      continue;
    }
    const auto all = exchange(g, g.env.rank == root ? tensor_bytes(mine) : std::string(), "broadcast");
    const auto& bytes = all.at(static_cast<std::size_t>(root));
    if (bytes.size() != static_cast<std::size_t>(mine.numel()))
      throw std::runtime_error("broadcast: the root's tensors differ in size from this rank's");
    unbyte_bucket(torch::from_blob(const_cast<char*>(bytes.data()), {mine.numel()}, torch::kUInt8).clone(), tensors,
                  begin, end);
  }
}

void rethrow_on_every_rank(const std::exception_ptr& local) {
  auto& g = joined();
  if (g.env.world == 1) {
    if (local) std::rethrow_exception(local);
    return;
  }
  std::string mine;  // "<kind>\t<message>", empty when this rank did not fail
  if (local) {
    try {
      std::rethrow_exception(local);
    } catch (const NotImplementedError& e) {
      mine = std::string("not_implemented\t") + e.what();
    } catch (const UsageError& e) {
      mine = std::string("usage\t") + e.what();
    } catch (const InputError& e) {
      mine = std::string("input\t") + e.what();
    } catch (const std::exception& e) {
      mine = std::string("runtime\t") + e.what();
    }
  }
  for (const auto& f : exchange(g, mine, "failure")) {
    if (f.empty()) continue;
    const auto tab = f.find('\t');
    const auto kind = f.substr(0, tab), what = f.substr(tab + 1);
    if (kind == "not_implemented") throw NotImplementedError(what);
    if (kind == "usage") throw UsageError(what);
    if (kind == "input") throw InputError(what);
    throw std::runtime_error(what);
  }
}

std::vector<std::string> all_gather(const std::string& bytes) {
  auto& g = joined();
  if (g.env.world == 1) return {bytes};
  return exchange(g, bytes, "all_gather");
}

void barrier(const std::string& name) {
  auto& g = joined();
  if (g.env.world == 1) return;
  const auto names = exchange(g, name, "barrier");
  for (std::size_t r = 0; r < names.size(); ++r)
    if (names[r] != name)
      throw std::logic_error(fmt::format("barrier: rank {} reached '{}' while rank {} reached '{}'", g.env.rank, name,
                                         r, names[r]));
}

Rows rows_of(int64_t global, const std::string& what) {
  const int w = world();
  if (global % w != 0)
    throw UsageError(fmt::format("{} = {} is not a multiple of the world size {}: every rank takes the same number "
                                 "of the global batch's rows",
                                 what, global, w));
  const int64_t n = global / w;
  return {rank() * n, (rank() + 1) * n};
}

torch::Tensor local_rows(const torch::Tensor& t) {
  if (world() == 1) return t;
  const auto r = rows_of(t.size(0), "the global batch");
  return t.slice(0, r.begin, r.end);
}

void reset_for_tests() {
  std::lock_guard<std::mutex> lock(mu);
  group.reset();
}

}  // namespace osv::dist
