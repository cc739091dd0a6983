// Detector features over a process group: numbered detector batches, each run on the rank that
// owns it (batch i on rank i mod world), then gathered and added to the statistics in batch order.
// FrechetStats sums rows in the order they are added, so the statistics are one process's, bit for
// bit, at the same threads per process (the features of a batch depend on the thread count).
// With one process it is a plain in-order accumulation.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "metrics/fvd/detector.h"
#include "metrics/fvd/frechet.h"

namespace osv {

class ShardedFeatures {
 public:
  // Whether this rank computes detector batch `batch_no`.
  static bool mine(int64_t batch_no);
  // This rank's features of batch `batch_no`: float32 [n, D].
  void put(int64_t batch_no, const torch::Tensor& features);
  // Every rank's batches 0 .. batches-1 into `stats`, in batch order (a collective: every rank calls
  // it, and every rank ends with the same statistics). Statistics still without a dimension are made
  // for `detector` and `frames`, keeping features when `stats` keeps them. Throws when a batch is
  // missing (`what` names the set).
  void add_to(FrechetStats& stats, const FvdDetector& detector, int64_t frames, int64_t batches,
              const std::string& what);

 private:
  std::map<int64_t, torch::Tensor> mine_;
};

}  // namespace osv
