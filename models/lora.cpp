#include "models/lora.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <mutex>
#include <regex>
#include <set>
#include <unordered_map>

#include "common/errors.h"
#include "models/safetensors.h"

namespace osv {
namespace {

struct LoraMeta {
  int64_t rank;
  double alpha;
  bool merged = false;
  double scale() const { return alpha / static_cast<double>(rank); }
};

// Adapter settings per adapted layer; the tensors themselves live in the layer's children.
std::mutex g_mutex;
std::unordered_map<const torch::nn::Module*, LoraMeta>& registry() {
  static std::unordered_map<const torch::nn::Module*, LoraMeta> r;
  return r;
}

std::shared_ptr<torch::nn::Module> child(const torch::nn::Module& m, const char* name) {
  for (const auto& c : m.named_children())
    if (c.key() == name) return c.value();
  return nullptr;
}

// The adapter settings of a layer, or null. A registry entry whose layer has no lora_A child
// belongs to a destroyed module whose address was reused, and is dropped.
LoraMeta* meta_of(const torch::nn::Module* m) {
  std::lock_guard lock(g_mutex);
  auto& r = registry();
  auto it = r.find(m);
  if (it == r.end()) return nullptr;
  if (!child(*m, "lora_A")) {
    r.erase(it);
    return nullptr;
  }
  return &it->second;
}

// Builds lora_A / lora_B for one layer. Returns false for layers LoRA does not apply to.
bool attach(torch::nn::Module& m, int64_t rank) {
  if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
    const auto in = lin->options.in_features(), out = lin->options.out_features();
    auto a = torch::nn::Linear(torch::nn::LinearOptions(in, rank).bias(false));
    auto b = torch::nn::Linear(torch::nn::LinearOptions(rank, out).bias(false));
    torch::nn::init::zeros_(b->weight);
    m.register_module("lora_A", a);
    m.register_module("lora_B", b);
  } else if (auto* c2 = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) {
    const auto& o = c2->options;
    auto a = torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), rank, o.kernel_size())
                                   .stride(o.stride()).padding(o.padding()).dilation(o.dilation()).bias(false));
    auto b = torch::nn::Conv2d(torch::nn::Conv2dOptions(rank, o.out_channels(), 1).bias(false));
    torch::nn::init::zeros_(b->weight);
    m.register_module("lora_A", a);
    m.register_module("lora_B", b);
  } else if (auto* c3 = dynamic_cast<torch::nn::Conv3dImpl*>(&m)) {
    const auto& o = c3->options;
    auto a = torch::nn::Conv3d(torch::nn::Conv3dOptions(o.in_channels(), rank, o.kernel_size())
                                   .stride(o.stride()).padding(o.padding()).dilation(o.dilation()).bias(false));
    auto b = torch::nn::Conv3d(torch::nn::Conv3dOptions(rank, o.out_channels(), 1).bias(false));
    torch::nn::init::zeros_(b->weight);
    m.register_module("lora_A", a);
    m.register_module("lora_B", b);
  } else {
    return false;
  }
  return true;
}

torch::Tensor& base_weight(torch::nn::Module& m) {
  if (auto* l = dynamic_cast<torch::nn::LinearImpl*>(&m)) return l->weight;
  if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) return c->weight;
  return dynamic_cast<torch::nn::Conv3dImpl&>(m).weight;
}

torch::Tensor lora_weight(const torch::nn::Module& m, const char* which) {
  return child(m, which)->named_parameters(false)["weight"];
}

// (alpha/r) * B A in the base weight's layout: [out, in] or [out, in, k...].
torch::Tensor delta_weight(const torch::nn::Module& m, const LoraMeta& meta) {
  auto a = lora_weight(m, "lora_A"), b = lora_weight(m, "lora_B");
  const auto r = a.size(0);
  auto prod = torch::matmul(b.reshape({b.size(0), r}), a.reshape({r, -1}));  // [out, in*k]
  std::vector<int64_t> shape{b.size(0)};
  for (int64_t d = 1; d < a.dim(); ++d) shape.push_back(a.size(d));
  return prod.reshape(shape) * meta.scale();
}

template <typename Impl>
torch::Tensor forward_impl(Impl& m, const torch::Tensor& x) {
  auto y = m.forward(x);
  const LoraMeta* meta = meta_of(&m);
  if (!meta || meta->merged) return y;
  auto a = std::dynamic_pointer_cast<Impl>(child(m, "lora_A"));
  auto b = std::dynamic_pointer_cast<Impl>(child(m, "lora_B"));
  return y + b->forward(a->forward(x)) * meta->scale();
}

std::vector<std::pair<std::string, torch::nn::Module*>> adapted(const torch::nn::Module& root) {
  std::vector<std::pair<std::string, torch::nn::Module*>> out;
  for (const auto& item : root.named_modules("", /*include_self=*/false))
    if (meta_of(item.value().get())) out.emplace_back(item.key(), item.value().get());
  return out;
}

}  // namespace

torch::Tensor lora_forward(torch::nn::LinearImpl& m, const torch::Tensor& x) { return forward_impl(m, x); }
torch::Tensor lora_forward(torch::nn::Conv2dImpl& m, const torch::Tensor& x) { return forward_impl(m, x); }
torch::Tensor lora_forward(torch::nn::Conv3dImpl& m, const torch::Tensor& x) { return forward_impl(m, x); }

std::vector<std::string> add_lora(torch::nn::Module& root, const LoraConfig& config) {
  if (config.rank <= 0) throw std::invalid_argument("add_lora: rank must be positive");
  std::vector<std::regex> patterns;
  for (const auto& p : config.target_patterns) patterns.emplace_back(p, std::regex::ECMAScript);
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> targets;
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (name.find("lora_A") != std::string::npos || name.find("lora_B") != std::string::npos) continue;
    for (const auto& re : patterns)
      if (std::regex_search(name, re)) {
        targets.emplace_back(name, item.value());
        break;
      }
  }
  for (auto& p : root.named_parameters())
    if (p.key().find("lora_A.") == std::string::npos && p.key().find("lora_B.") == std::string::npos)
      p.value().set_requires_grad(false);
  std::vector<std::string> names;
  for (auto& [name, m] : targets) {
    if (meta_of(m.get())) throw std::invalid_argument(fmt::format("add_lora: '{}' already has an adapter", name));
    if (!attach(*m, config.rank)) continue;  // e.g. a norm layer whose name matched
    m->to(base_weight(*m).device(), base_weight(*m).scalar_type());
    {
      std::lock_guard lock(g_mutex);
      registry()[m.get()] = LoraMeta{config.rank, config.alpha, false};
    }
    names.push_back(name);
  }
  if (names.empty())
    throw std::invalid_argument(fmt::format("add_lora: no Linear/Conv layer matches {}",
                                            nlohmann::json(config.target_patterns).dump()));
  std::sort(names.begin(), names.end());
  return names;
}

void merge_lora(torch::nn::Module& root) {
  torch::NoGradGuard g;
  for (auto& [name, m] : adapted(root)) {
    LoraMeta* meta = meta_of(m);
    if (meta->merged) continue;
    auto& w = base_weight(*m);
    w.add_(delta_weight(*m, *meta).to(w.scalar_type()));
    meta->merged = true;
  }
}

void unmerge_lora(torch::nn::Module& root) {
  torch::NoGradGuard g;
  for (auto& [name, m] : adapted(root)) {
    LoraMeta* meta = meta_of(m);
    if (!meta->merged) continue;
    auto& w = base_weight(*m);
    w.sub_(delta_weight(*m, *meta).to(w.scalar_type()));
    meta->merged = false;
  }
}

bool lora_merged(const torch::nn::Module& root) {
  auto a = adapted(root);
  return !a.empty() && std::all_of(a.begin(), a.end(), [](const auto& p) { return meta_of(p.second)->merged; });
}

std::vector<std::pair<std::string, torch::Tensor>> lora_state_dict(const torch::nn::Module& root,
                                                                   const std::string& prefix) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, m] : adapted(root)) {
    out.emplace_back(prefix + name + ".lora_A.weight", lora_weight(*m, "lora_A"));
    out.emplace_back(prefix + name + ".lora_B.weight", lora_weight(*m, "lora_B"));
  }
  return out;
}

void save_lora(const torch::nn::Module& root, const std::filesystem::path& path, const std::string& prefix) {
  const auto a = adapted(root);
  if (a.empty()) throw std::invalid_argument("save_lora: the module has no adapters");
  const LoraMeta* meta = meta_of(a.front().second);
  std::vector<std::string> targets;
  for (const auto& [name, m] : a) {
    const LoraMeta* mm = meta_of(m);
    if (mm->rank != meta->rank || mm->alpha != meta->alpha)
      throw std::invalid_argument("save_lora: adapters with different rank/alpha are not supported");
    targets.push_back(name);
  }
  // diffusers strips "<prefix>" from the metadata keys and passes the rest to peft.LoraConfig.
  const std::string p = prefix.empty() ? "" : prefix;
  nlohmann::json cfg = {{p + "r", meta->rank}, {p + "lora_alpha", meta->alpha}, {p + "target_modules", targets},
                        {p + "init_lora_weights", true}, {p + "use_dora", false}, {p + "bias", "none"}};
  save_safetensors(path, lora_state_dict(root, prefix), {{"lora_adapter_metadata", cfg.dump()}, {"format", "pt"}});
}

std::vector<std::string> load_lora(torch::nn::Module& root, const std::filesystem::path& path,
                                   const std::string& prefix) {
  auto f = SafetensorsFile::open(path);
  double alpha = -1;
  if (auto it = f.metadata().find("lora_adapter_metadata"); it != f.metadata().end()) {
    auto j = nlohmann::json::parse(it->second, nullptr, false);
    if (j.is_object() && j.contains(prefix + "lora_alpha")) alpha = j[prefix + "lora_alpha"].get<double>();
  }
  const std::string suffix = ".lora_A.weight";
  std::set<std::string> modules;
  for (const auto& n : f.names())
    if (n.rfind(prefix, 0) == 0 && n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      modules.insert(n.substr(prefix.size(), n.size() - prefix.size() - suffix.size()));
  if (modules.empty()) throw InputError(fmt::format("{}: no '{}*.lora_A.weight' tensors", path.string(), prefix));
  std::map<std::string, std::shared_ptr<torch::nn::Module>> by_name;
  for (const auto& item : root.named_modules("", false)) by_name[item.key()] = item.value();
  std::vector<std::string> loaded;
  torch::NoGradGuard g;
  for (const auto& name : modules) {
    auto it = by_name.find(name);
    if (it == by_name.end())
      throw InputError(fmt::format("{}: LoRA for '{}', which the model does not have", path.string(), name));
    const auto a = f.tensor(prefix + name + ".lora_A.weight");
    const auto b = f.tensor(prefix + name + ".lora_B.weight");
    LoraConfig c;
    c.rank = a.size(0);
    c.alpha = alpha > 0 ? alpha : static_cast<double>(c.rank);
    c.target_patterns = {"^" + std::regex_replace(name, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") + "$"};
    add_lora(root, c);
    auto& m = *it->second;
    for (const auto& [which, src] : {std::pair{"lora_A", a}, std::pair{"lora_B", b}}) {
      auto dst = lora_weight(m, which);
      if (dst.sizes() != src.sizes())
        throw InputError(fmt::format("{}: tensor '{}{}.{}.weight' has shape {} but the layer needs {}", path.string(),
                                     prefix, name, which, c10::str(src.sizes()), c10::str(dst.sizes())));
      dst.copy_(src);
    }
    loaded.push_back(name);
  }
  return loaded;
}

}  // namespace osv
