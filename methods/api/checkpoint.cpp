#include "methods/api/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <stdexcept>

#include "common/errors.h"
#include "common/sha256.h"

namespace osv {
namespace {

std::string shape_str(torch::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::string moment_name(const std::string& key, std::size_t group, std::size_t param, const char* what) {
  return fmt::format("{}.g{}.p{}.{}", key, group, param, what);
}

// Adam and AdamW keep the same per-parameter state (step, exp_avg, exp_avg_sq, max_exp_avg_sq) and
// the same options; one template serves both.
template <class Opt, class State, class Options>
bool save_adam(const torch::optim::Optimizer& base, const std::string& key, CheckpointWriter& w,
               nlohmann::json& out) {
  const auto* opt = dynamic_cast<const Opt*>(&base);
  if (!opt) return false;
  nlohmann::json groups = nlohmann::json::array();
  for (std::size_t g = 0; g < opt->param_groups().size(); ++g) {
    const auto& group = opt->param_groups()[g];
    const auto& o = static_cast<const Options&>(group.options());
    nlohmann::json steps = nlohmann::json::array();
    for (std::size_t i = 0; i < group.params().size(); ++i) {
      const auto it = opt->state().find(group.params()[i].unsafeGetTensorImpl());
      if (it == opt->state().end()) {  // no step taken yet for this parameter
        steps.push_back(nullptr);
        continue;
      }
      const auto& s = static_cast<const State&>(*it->second);
      steps.push_back(s.step());
      w.tensor(moment_name(key, g, i, "exp_avg"), s.exp_avg());
      w.tensor(moment_name(key, g, i, "exp_avg_sq"), s.exp_avg_sq());
      if (s.max_exp_avg_sq().defined()) w.tensor(moment_name(key, g, i, "max_exp_avg_sq"), s.max_exp_avg_sq());
    }
    groups.push_back({{"lr", o.lr()},
                      {"betas", {std::get<0>(o.betas()), std::get<1>(o.betas())}},
                      {"eps", o.eps()},
                      {"weight_decay", o.weight_decay()},
                      {"amsgrad", o.amsgrad()},
                      {"steps", std::move(steps)}});
  }
  out = {{"type", std::is_same_v<Opt, torch::optim::AdamW> ? "AdamW" : "Adam"}, {"groups", std::move(groups)}};
  return true;
}

template <class Opt, class State, class Options>
bool load_adam(torch::optim::Optimizer& base, const std::string& key, const CheckpointReader& r,
               const nlohmann::json& in) {
  auto* opt = dynamic_cast<Opt*>(&base);
  if (!opt) return false;
  const std::string type = std::is_same_v<Opt, torch::optim::AdamW> ? "AdamW" : "Adam";
  const auto fail = [&](const std::string& what) {
    return InputError(fmt::format("{}: optimiser '{}': {}", r.path().string(), key, what));
  };
  if (in.value("type", "") != type) throw fail(fmt::format("stored as {}, the run uses {}", in.value("type", "?"), type));
  const auto& groups = in.at("groups");
  if (groups.size() != opt->param_groups().size())
    throw fail(fmt::format("{} parameter groups stored, the run has {}", groups.size(), opt->param_groups().size()));
  torch::NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& group = opt->param_groups()[g];
    const auto& jg = groups[g];
    const auto& steps = jg.at("steps");
    if (steps.size() != group.params().size())
      throw fail(fmt::format("group {}: {} parameters stored, the run has {}", g, steps.size(), group.params().size()));
    auto& o = static_cast<Options&>(group.options());
    o.lr(jg.at("lr").get<double>());
    o.betas({jg.at("betas").at(0).get<double>(), jg.at("betas").at(1).get<double>()});
    o.eps(jg.at("eps").get<double>());
    o.weight_decay(jg.at("weight_decay").get<double>());
    o.amsgrad(jg.at("amsgrad").get<bool>());
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const auto& p = group.params()[i];
      void* id = p.unsafeGetTensorImpl();
      if (steps[i].is_null()) {
        opt->state().erase(id);
        continue;
      }
      auto s = std::make_unique<State>();
      s->step(steps[i].get<int64_t>());
      auto moment = [&](const char* what) {
        auto t = torch::zeros_like(p.detach(), torch::MemoryFormat::Preserve);
        r.read_into(moment_name(key, g, i, what), t);
        return t;
      };
      s->exp_avg(moment("exp_avg"));
      s->exp_avg_sq(moment("exp_avg_sq"));
      // amsgrad's running maximum: required when the group uses it (Adam's step reads it).
      if (o.amsgrad() || r.has_tensor(moment_name(key, g, i, "max_exp_avg_sq")))
        s->max_exp_avg_sq(moment("max_exp_avg_sq"));
      opt->state()[id] = std::move(s);
    }
  }
  return true;
}

}  // namespace

void CheckpointWriter::tensor(const std::string& name, const torch::Tensor& t) {
  tensors_.emplace_back(name, t.detach());
}

std::string CheckpointWriter::digest() const {
  Sha256 h;
  for (const auto& [name, t] : tensors_) {
    const auto c = t.to(torch::kCPU).contiguous();
    std::string head = name + "\n" + std::string(c10::toString(c.scalar_type())) + "\n";
    for (const auto d : c.sizes()) head += std::to_string(d) + ",";
    h.update(head + "\n");
    h.update(c.data_ptr(), static_cast<std::size_t>(c.numel()) * c.element_size());
  }
  h.update(scalars_.dump());
  return h.hex_digest();
}

void CheckpointWriter::scalar(const std::string& name, nlohmann::json value) { scalars_[name] = std::move(value); }

void CheckpointWriter::module(const std::string& prefix, const torch::nn::Module& m) {
  for (const auto& p : m.named_parameters(true)) tensor(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) tensor(prefix + b.key(), b.value());
}

void CheckpointWriter::tensors(const std::string& prefix, const std::vector<torch::Tensor>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) tensor(prefix + std::to_string(i), v[i]);
}

void CheckpointWriter::optimizer(const std::string& key, const torch::optim::Optimizer& opt) {
  nlohmann::json state;
  if (!save_adam<torch::optim::Adam, torch::optim::AdamParamState, torch::optim::AdamOptions>(opt, key, *this,
                                                                                                state) &&
      !save_adam<torch::optim::AdamW, torch::optim::AdamWParamState, torch::optim::AdamWOptions>(opt, key, *this,
                                                                                                   state))
    throw std::logic_error("CheckpointWriter::optimizer: only Adam and AdamW state can be checkpointed ('" + key + "')");
  scalar("optimizer." + key, std::move(state));
}

void CheckpointWriter::save(const std::filesystem::path& path) const {
  save_safetensors(path, tensors_, {{"format", kCheckpointFormat}, {"osvbench.state", scalars_.dump()}});
}

CheckpointReader CheckpointReader::open(const std::filesystem::path& path) {
  CheckpointReader r(SafetensorsFile::open(path));
  const auto& meta = r.file_.metadata();
  const auto format = meta.find("format");
  if (format == meta.end() || format->second != kCheckpointFormat)
    throw InputError(fmt::format("{}: not an osvbench training checkpoint (metadata format '{}', expected '{}')",
                                 path.string(), format == meta.end() ? "" : format->second, kCheckpointFormat));
  const auto state = meta.find("osvbench.state");
  if (state == meta.end()) throw InputError(path.string() + ": checkpoint without its 'osvbench.state' metadata");
  r.scalars_ = nlohmann::json::parse(state->second, nullptr, /*allow_exceptions=*/false);
  if (!r.scalars_.is_object())
    throw InputError(path.string() + ": the checkpoint's 'osvbench.state' metadata is not a JSON object");
  return r;
}

void CheckpointReader::read_into(const std::string& name, torch::Tensor& dst) const {
  if (!file_.contains(name))
    throw InputError(fmt::format("{}: the checkpoint has no tensor '{}' (shape {} expected); it was written by a "
                                 "different configuration or version — delete it to restart this run",
                                 path().string(), name, shape_str(dst.sizes())));
  const auto& e = file_.entry(name);
  if (safetensors_dtype(e.dtype) != dst.scalar_type())
    throw InputError(fmt::format("{}: tensor '{}' is {} in the checkpoint, the run expects {}", path().string(), name,
                                 e.dtype, safetensors_dtype_name(dst.scalar_type())));
  if (torch::IntArrayRef(e.shape) != dst.sizes())
    throw InputError(fmt::format("{}: tensor '{}' has shape {} in the checkpoint, the run expects {}",
                                 path().string(), name, shape_str(e.shape), shape_str(dst.sizes())));
  torch::NoGradGuard no_grad;
  dst.copy_(file_.tensor(name));
}

const nlohmann::json& CheckpointReader::scalar(const std::string& name) const {
  if (!scalars_.contains(name)) throw InputError(fmt::format("{}: the checkpoint has no value '{}'", path().string(), name));
  return scalars_.at(name);
}

void CheckpointReader::module(const std::string& prefix, torch::nn::Module& m) const {
  for (auto& p : m.named_parameters(true)) read_into(prefix + p.key(), p.value());
  for (auto& b : m.named_buffers(true)) read_into(prefix + b.key(), b.value());
}

void CheckpointReader::tensors(const std::string& prefix, std::vector<torch::Tensor>& v) const {
  for (std::size_t i = 0; i < v.size(); ++i) read_into(prefix + std::to_string(i), v[i]);
}

void CheckpointReader::optimizer(const std::string& key, torch::optim::Optimizer& opt) const {
  const auto& state = scalar("optimizer." + key);
  try {
    if (!load_adam<torch::optim::Adam, torch::optim::AdamParamState, torch::optim::AdamOptions>(opt, key, *this,
                                                                                                 state) &&
        !load_adam<torch::optim::AdamW, torch::optim::AdamWParamState, torch::optim::AdamWOptions>(opt, key, *this,
                                                                                                    state))
      throw std::logic_error("CheckpointReader::optimizer: only Adam and AdamW state can be restored ('" + key + "')");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: optimiser '{}': malformed state ({})", path().string(), key, e.what()));
  }
}

}  // namespace osv
