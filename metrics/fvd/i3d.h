// Inception-I3D (Carreira & Zisserman) as in the public PyTorch port, with its module and
// parameter names (Conv3d_1a_7x7 ... Mixed_5c, logits; Unit3D = conv3d + bn; branches b0, b1a,
// b1b, b2a, b2b, b3b; 287 tensors), TF "SAME" padding computed from each input size, and the
// batch-norm eps as a knob (1e-3 TF-faithful, 1e-5 VideoGPT/TATS-compatible).
//
// Dimension legend: B batch, T frames, H, W pixels (224 for Kinetics weights; smaller inputs
// shrink the final average pool), features 400 (logits) or 1024 (pooled).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace osv {

struct I3dConfig {
  int64_t num_classes = 400;
  double bn_eps = 1e-3;
  int64_t in_channels = 3;
};

struct I3dOutput {
  torch::Tensor logits;  // [B, 400], pre-softmax, averaged over time
  torch::Tensor pooled;  // [B, 1024], the average-pooled features averaged over time
};

namespace i3d_detail {
struct Unit3DImpl;
}

// Training-mode batch norm whose statistics are a process group's global batch (each rank holding
// an equal share): forward sums Σx and Σx² across the ranks in float64, backward Σdy and Σdy·x̂ (as
// torch's SyncBatchNorm). x [B, C, ...], weight and bias [C]; sets the running statistics to the
// global batch's mean and unbiased variance. One process: torch::batch_norm(training, momentum 1).
torch::Tensor global_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                torch::Tensor running_mean, torch::Tensor running_var, double eps);

class InceptionI3dImpl : public torch::nn::Module {
 public:
  explicit InceptionI3dImpl(I3dConfig config = {});
  // x: [B, 3, T, H, W] in [-1, 1]
  I3dOutput forward(const torch::Tensor& x);
  // One forward pass in which every batch norm replaces its running statistics by the
  // statistics of its input batch (BN calibration of randomly initialised weights).
  void calibrate(const torch::Tensor& x);
  // Batch norms use (and store) batch statistics while on: for training from scratch. With
  // `across_ranks` in a process group whose ranks each hold a share of one global batch, the
  // statistics are the global batch's (forward: Σx and Σx² summed over the ranks; backward: Σdy and
  // Σdy·x̂ likewise, as torch's SyncBatchNorm), so the ranks train what one process would on the
  // whole batch; every rank must then run the same forwards and backwards in the same order. One
  // process, or without it: torch's batch_norm, unchanged.
  void set_calibrating(bool on, bool across_ranks = false);
  const I3dConfig& config() const { return config_; }

 private:
  I3dConfig config_;
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> layers_;  // in order
  std::shared_ptr<i3d_detail::Unit3DImpl> logits_;
};
TORCH_MODULE(InceptionI3d);

// TF "SAME" padding of one dimension: (front, back) for size s, kernel k, stride st.
std::pair<int64_t, int64_t> tf_same_padding(int64_t s, int64_t k, int64_t st);

// Builds the network and loads safetensors weights in the port's names.
InceptionI3d load_i3d(const std::filesystem::path& weights, const I3dConfig& config = {});

}  // namespace osv
