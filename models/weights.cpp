#include "models/weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "common/errors.h"

namespace osv {

namespace {
std::string shape_text(c10::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::string list_some(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > 5) s += fmt::format(" and {} more", v.size() - 5);
  return s;
}
}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

LoadReport load_weights(torch::nn::Module& module, const SafetensorsCheckpoint& ckpt, const LoadOptions& options) {
  LoadReport report;
  torch::NoGradGuard no_grad;
  std::set<std::string> wanted;
  std::vector<std::string> missing;
  for (auto& [name, target] : state_dict(module)) {
    const std::string key = options.prefix + name;
    wanted.insert(key);
    if (!ckpt.contains(key)) {
      missing.push_back(key);
      continue;
    }
    const torch::Tensor src = ckpt.tensor(key);
    if (src.sizes() != target.sizes())
      throw InputError(fmt::format("{}: tensor '{}' has shape {} in the checkpoint but the model expects {}",
                                   ckpt.path().string(), key, shape_text(src.sizes()), shape_text(target.sizes())));
    target.copy_(src.to(target.device(), target.scalar_type()));
    ++report.loaded;
  }
  if (!missing.empty())
    throw InputError(fmt::format("{}: {} tensor(s) the model needs are missing: {}", ckpt.path().string(),
                                 missing.size(), list_some(missing)));
  for (const auto& n : ckpt.names())
    if (!wanted.count(n) && (options.prefix.empty() || n.rfind(options.prefix, 0) == 0)) report.unexpected.push_back(n);
  if (!report.unexpected.empty() && !options.allow_unexpected)
    throw InputError(fmt::format("{}: {} tensor(s) in the checkpoint do not belong to the model: {}",
                                 ckpt.path().string(), report.unexpected.size(), list_some(report.unexpected)));
  return report;
}

void save_weights(const torch::nn::Module& module, const std::filesystem::path& path,
                  const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, state_dict(module), metadata);
}

}  // namespace osv
