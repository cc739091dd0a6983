#include "models/nn_util.h"

#include <fmt/format.h>

#include <cmath>

#include "common/atomic_file.h"
#include "common/errors.h"

namespace osv {

nlohmann::json read_model_config(const std::filesystem::path& p) {
  const auto file = std::filesystem::is_directory(p) ? p / "config.json" : p;
  try {
    return nlohmann::json::parse(read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
}

torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return torch::gelu(x, "tanh");
  if (name == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (name == "silu" || name == "swish") return torch::silu(x);
  if (name == "relu") return torch::relu(x);
  throw InputError(fmt::format("unsupported activation '{}'", name));
}

namespace {
thread_local int math_attention_depth = 0;
}

MathAttentionGuard::MathAttentionGuard() { ++math_attention_depth; }
MathAttentionGuard::~MathAttentionGuard() { --math_attention_depth; }

torch::Tensor multi_head_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   int64_t heads) {
  const auto B = q.size(0), Nq = q.size(1), Nk = k.size(1), C = q.size(2);
  const auto Dh = C / heads;
  auto split = [&](const torch::Tensor& t, int64_t n) { return t.view({B, n, heads, Dh}).transpose(1, 2); };
  // [B, H, N, Dh]
  torch::Tensor o;
  if (math_attention_depth > 0) {  // softmax(q k^T / sqrt(Dh)) v from differentiable ops
    auto qs = split(q, Nq), ks = split(k, Nk), vs = split(v, Nk);
    o = torch::softmax(torch::matmul(qs, ks.transpose(-2, -1)) / std::sqrt(static_cast<double>(Dh)), -1).matmul(vs);
  } else {
    o = at::scaled_dot_product_attention(split(q, Nq), split(k, Nk), split(v, Nk));
  }
  return o.transpose(1, 2).reshape({B, Nq, heads * Dh});
}

}  // namespace osv
