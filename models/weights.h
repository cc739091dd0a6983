// Loads a checkpoint into a module whose parameter names equal the reference state-dict keys
// (the whole "mapping" is register_module/register_parameter with the PyTorch names), and
// saves a module's state dict as safetensors.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <string>
#include <vector>

#include "models/nn_util.h"
#include "models/safetensors.h"

namespace osv {

struct LoadReport {
  std::size_t loaded = 0;
  std::vector<std::string> unexpected;  // in the checkpoint, not in the module
};

struct LoadOptions {
  bool allow_unexpected = false;  // tolerate checkpoint tensors the module does not have
  std::string prefix;             // prepended to module names to form checkpoint keys
};

// Copies every parameter and buffer of `module` from `ckpt` (converted to the module's dtype
// and device). Throws osv::InputError naming the file, the tensor and both shapes on a shape
// mismatch, and listing missing (and, unless allowed, unexpected) tensors.
LoadReport load_weights(torch::nn::Module& module, const SafetensorsCheckpoint& ckpt, const LoadOptions& options = {});

// All parameters and buffers, named as the module names them.
std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& module);
void save_weights(const torch::nn::Module& module, const std::filesystem::path& path,
                  const std::map<std::string, std::string>& metadata = {});

// A reference folder (config.json + weights) as a module: Holder(Config::from_json(config)), weights
// loaded in `dtype`, moved to `device`, eval mode.
template <typename Holder, typename Config>
Holder load_pretrained(const std::filesystem::path& folder, c10::ScalarType dtype = c10::kFloat,
                       c10::Device device = c10::Device(c10::kCPU)) {
  Holder m(Config::from_json(read_model_config(folder)));
  m->to(dtype);
  load_weights(*m, SafetensorsCheckpoint::open(folder));
  m->to(device);
  m->eval();
  return m;
}

}  // namespace osv
