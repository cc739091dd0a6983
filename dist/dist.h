// More than one process: the process group osvbench joins when it is launched by torchrun (or a
// Slurm wrapper that sets the same variables), and the few collectives training and evaluation need.
//
// From the environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun also sets
// TORCHELASTIC_RESTART_COUNT and TORCHELASTIC_USE_AGENT_STORE; both are honoured). Without
// WORLD_SIZE, or with WORLD_SIZE=1, nothing changes: every collective is the identity.
//
// Tensors' collectives (all-reduce, broadcast) run on c10d's NCCL process group in a CUDA build that
// found nccl.h, when a GPU is visible (buckets on this rank's GPU); else on c10d's Gloo process group
// where osvbench was built with gloo's headers (Debian's libgloo-dev; the wheel ships
// ProcessGroupGloo compiled in but not gloo's headers; buckets in host memory): the same bits on
// every rank. Otherwise, or with OSVBENCH_DIST_BACKEND=store, they run over c10d's TCPStore: every
// rank publishes its bytes under a per-collective key and reads the others', and a reduction sums
// the contributions in rank order on every rank. Byte collectives (all_gather, barrier) always use
// the store. Tensors travel in buckets of at most 64 MiB (reductions as float64, broadcasts as raw
// bytes). In a CUDA build each rank makes GPU LOCAL_RANK (mod the visible count) its current
// device, which a config's "cuda" then names.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace osv::dist {

struct Env {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int restart_count = 0;       // TORCHELASTIC_RESTART_COUNT: keys of an earlier attempt are never read
  bool agent_store = false;    // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store
  bool launched = false;       // WORLD_SIZE was set
};

// Reads the variables through `getenv` (tests pass their own); throws UsageError on a malformed or
// inconsistent value (RANK outside [0, WORLD_SIZE), a non-numeric port, ...), naming it.
Env env_from(const std::function<const char*(const char*)>& getenv);

// Joins the process group the environment describes (idempotent; a no-op for one process).
// Throws RuntimeError when the store cannot be reached within the timeout
// (OSVBENCH_DIST_TIMEOUT_S, default 1800 s: a rank may wait that long for another one's stage).
void init();

int rank();
int world();
int local_rank();
inline bool is_main() { return rank() == 0; }
// "none" (one process), "nccl", "gloo" or "store" (see above).
std::string backend();

// Sums each tensor over the ranks (in float64) and divides by the world size, in place. Every rank
// ends with the same bits. Undefined tensors are not allowed (pass zeros).
void all_reduce_mean(const std::vector<torch::Tensor>& tensors);
// True on every rank when `flag` was true on every rank.
bool all_true(bool flag);
// Overwrites each tensor with rank `root`'s, bytes for bytes (any dtype).
void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
// A collective for a step some ranks may fail (e.g. a sampler that refuses a row, called only on
// the ranks that hold its clips): every rank passes its exception (null when it did not fail), and
// every rank throws the first failing rank's — as NotImplementedError, UsageError, InputError or
// std::runtime_error, its kind kept — so the ranks stay in step. One process: rethrows `local`.
void rethrow_on_every_rank(const std::exception_ptr& local);
// Every rank's bytes, in rank order.
std::vector<std::string> all_gather(const std::string& bytes);
// Waits until every rank reached a barrier of this name (names must match across ranks).
void barrier(const std::string& name);

// Data-parallel rows: a global batch of `global` rows, this rank's [begin, end). Throws
// UsageError naming `what` when `global` is not a multiple of the world size.
struct Rows {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Rows rows_of(int64_t global, const std::string& what);
// This rank's rows of a tensor drawn for the whole global batch (dim 0).
torch::Tensor local_rows(const torch::Tensor& global_batch);

// Tests: forget the group (the next init() reads the environment again).
void reset_for_tests();

}  // namespace osv::dist
