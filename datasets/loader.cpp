#include "datasets/loader.h"

#include <chrono>

namespace osv {

ClipLoader::ClipLoader(std::vector<int64_t> order, Producer produce, int threads, int capacity)
    : order_(std::move(order)), produce_(std::move(produce)), capacity_(static_cast<std::size_t>(std::max(1, capacity))) {
  for (int t = 0; t < std::max(1, threads); ++t) workers_.emplace_back([this] { work(); });
}

ClipLoader::~ClipLoader() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& w : workers_) w.join();
}

void ClipLoader::work() {
  while (true) {
    std::size_t pos;
    {
      std::unique_lock l(mu_);
      // Bounded: never run more than `capacity` positions ahead of the consumer.
      space_.wait(l, [&] { return stop_ || next_claim_ >= order_.size() || next_claim_ < next_out_ + capacity_; });
      if (stop_ || next_claim_ >= order_.size()) return;
      pos = next_claim_++;
    }
    Slot slot;
    try {
      slot.item = produce_(order_[pos]);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard l(mu_);
      done_[pos] = std::move(slot);
    }
    ready_.notify_all();
  }
}

std::optional<torch::Tensor> ClipLoader::next() {
  while (true) {
    std::unique_lock l(mu_);
    if (next_out_ >= order_.size()) return std::nullopt;
    const auto t0 = std::chrono::steady_clock::now();
    ready_.wait(l, [&] { return done_.count(next_out_) > 0; });
    wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Slot slot = std::move(done_[next_out_]);
    done_.erase(next_out_);
    ++next_out_;
    l.unlock();
    space_.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    auto& item = slot.item;
    if (item) {
      ++produced_;
      return item;
    }
    ++skipped_;
  }
}

torch::Tensor ClipLoader::next_batch(int64_t n) {
  std::vector<torch::Tensor> items;
  while (static_cast<int64_t>(items.size()) < n) {
    auto it = next();
    if (!it) break;
    items.push_back(*it);
  }
  return items.empty() ? torch::Tensor() : torch::stack(items);
}

}  // namespace osv
