// Background loading: worker threads produce items (decode, crop, read the cache) into a bounded
// reorder buffer while the training loop consumes them in order, so a step waits on decoding
// only when the workers fall behind. The wait is measured (loader overhead per step).
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace osv {

class ClipLoader {
 public:
  // produce(i) returns the item for order[i] (nullopt: skipped, e.g. a broken file).
  using Producer = std::function<std::optional<torch::Tensor>(int64_t index)>;
  ClipLoader(std::vector<int64_t> order, Producer produce, int threads = 2, int capacity = 16);
  ~ClipLoader();
  ClipLoader(const ClipLoader&) = delete;
  ClipLoader& operator=(const ClipLoader&) = delete;

  // The next produced item in order; nullopt at the end. Skipped items are passed over.
  std::optional<torch::Tensor> next();
  // Up to n items stacked on a new leading dimension; undefined tensor at the end.
  torch::Tensor next_batch(int64_t n);

  double wait_seconds() const { return wait_s_; }  // consumer time spent waiting for workers
  int64_t produced() const { return produced_; }
  int64_t skipped() const { return skipped_; }

 private:
  void work();
  std::vector<int64_t> order_;
  Producer produce_;
  std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  struct Slot {
    std::optional<torch::Tensor> item;
    std::exception_ptr error;  // rethrown when the consumer reaches this position
  };
  std::map<std::size_t, Slot> done_;  // position -> result
  std::size_t next_claim_ = 0, next_out_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
  double wait_s_ = 0;
  int64_t produced_ = 0, skipped_ = 0;
};

}  // namespace osv
