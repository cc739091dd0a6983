// Building blocks shared by the architectures: reading a reference config.json, activations
// and multi-head attention. Dimension legend: B batch, N tokens, D width, H heads.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace osv {

// Reads config.json of a diffusers/transformers folder (or a config.json path).
nlohmann::json read_model_config(const std::filesystem::path& folder_or_file);

// value of `key` or `fallback` when absent or null.
template <typename T>
T config_value(const nlohmann::json& j, const std::string& key, T fallback) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  return j.at(key).get<T>();
}

// "gelu" (erf), "gelu_pytorch_tanh"/"gelu_new" (tanh), "quick_gelu", "silu"/"swish", "relu".
torch::Tensor activation(const torch::Tensor& x, const std::string& name);

// While one is alive (this thread), attention is computed from plain differentiable ops instead
// of the fused kernel, whose backward has no derivative of its own: needed for gradient penalties
// (SF-V's R1) that differentiate a gradient through attention.
struct MathAttentionGuard {
  MathAttentionGuard();
  ~MathAttentionGuard();
  MathAttentionGuard(const MathAttentionGuard&) = delete;
  MathAttentionGuard& operator=(const MathAttentionGuard&) = delete;
};

// q, k, v: [B, N, H*Dh] -> [B, Nq, H*Dh]; softmax(q k^T / sqrt(Dh)) v per head.
torch::Tensor multi_head_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   int64_t heads);

}  // namespace osv
