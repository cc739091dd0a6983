#include "harness/sharded_features.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "dist/dist.h"
#include "metrics/fvd/video_stats.h"

namespace osv {

bool ShardedFeatures::mine(int64_t batch_no) { return batch_no % dist::world() == dist::rank(); }

void ShardedFeatures::put(int64_t batch_no, const torch::Tensor& features) {
  if (features.dim() != 2 || features.scalar_type() != torch::kFloat32)
    throw std::invalid_argument("ShardedFeatures::put: expected float32 [n, D]");
  mine_[batch_no] = features.to(torch::kCPU).contiguous();
}

void ShardedFeatures::add_to(FrechetStats& stats, const FvdDetector& detector, int64_t frames, int64_t batches,
                             const std::string& what) {
  std::map<int64_t, torch::Tensor> all;  // batch number -> float32 [rows, dim], every rank's
  if (dist::world() == 1) {
    all.swap(mine_);
  } else {
    std::string bytes;  // (batch number, rows, dim, float32 rows) records
    for (const auto& [no, f] : mine_) {
      const int64_t head[3] = {no, f.size(0), f.size(1)};
      bytes.append(reinterpret_cast<const char*>(head), sizeof head);
      bytes.append(reinterpret_cast<const char*>(f.data_ptr<float>()), static_cast<std::size_t>(f.numel()) * sizeof(float));
    }
    mine_.clear();
    const std::string tag = "features:" + what;  // every rank must be in this collective, for this set
    const auto gathered = dist::all_gather(tag + '\n' + bytes);
    for (std::size_t r = 0; r < gathered.size(); ++r) {
      const auto& g = gathered[r];
      if (g.compare(0, tag.size() + 1, tag + '\n') != 0)
        throw std::runtime_error(fmt::format("{}: rank {} is in another collective (the ranks are out of step)", what, r));
      const std::string_view b(g.data() + tag.size() + 1, g.size() - tag.size() - 1);
      for (std::size_t at = 0; at < b.size();) {
        int64_t head[3];
        if (b.size() - at < sizeof head) throw std::runtime_error(fmt::format("{}: rank {}'s features are torn", what, r));
        std::memcpy(head, b.data() + at, sizeof head);
        at += sizeof head;
        const auto n = static_cast<std::size_t>(std::max<int64_t>(0, head[1] * head[2])) * sizeof(float);
        if (head[1] < 0 || head[2] < 0 || n > b.size() - at)
          throw std::runtime_error(fmt::format("{}: rank {}'s features are torn", what, r));
        auto f = torch::empty({head[1], head[2]}, torch::kFloat32);
        std::memcpy(f.data_ptr<float>(), b.data() + at, n);
        all[head[0]] = f;
        at += n;
      }
    }
  }
  if (static_cast<int64_t>(all.size()) != batches || (!all.empty() && all.rbegin()->first != batches - 1))
    throw std::runtime_error(fmt::format("{}: {} of {} detector batches came back from the ranks", what, all.size(), batches));
  for (const auto& [no, f] : all) {  // batch order: FrechetStats sums rows in the order they come
    if (stats.dim() == 0) stats = make_stats_for(detector, f.size(1), frames, stats.has_features());
    stats.add(f.data_ptr<float>(), f.size(0));
  }
}

}  // namespace osv
