// LoRA (low-rank adapters) on Linear and Conv layers selected by name patterns, in the PEFT
// layout: the adapted module gains children `lora_A` (in -> r; for convolutions the layer's own
// kernel, stride and padding) and `lora_B` (r -> out, zero-initialised), so their parameter names
// are `<module>.lora_A.weight` / `<module>.lora_B.weight` exactly as PEFT and diffusers save them.
// Output: y = base(x) + (alpha / r) * lora_B(lora_A(x)), until merged into the base weight.
//
// Architectures call `lora_forward(layer, x)` at every Linear/Conv call site that may be adapted.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

namespace osv {

struct LoraConfig {
  int64_t rank = 64;
  double alpha = 64.0;
  // ECMAScript regexes searched in the module name ("attn1\\.to_q$", "resnets\\.\\d+\\..*conv[12]$").
  std::vector<std::string> target_patterns;
};

// Adds adapters to every Linear/Conv2d/Conv3d below `root` whose name matches a pattern and
// freezes every other parameter of `root`. Returns the adapted module names (sorted).
// Throws std::invalid_argument when nothing matches or a module is adapted twice.
std::vector<std::string> add_lora(torch::nn::Module& root, const LoraConfig& config);

// Forward of a possibly adapted layer (plain forward when it has no adapter or it is merged).
torch::Tensor lora_forward(torch::nn::LinearImpl& m, const torch::Tensor& x);
torch::Tensor lora_forward(torch::nn::Conv2dImpl& m, const torch::Tensor& x);
torch::Tensor lora_forward(torch::nn::Conv3dImpl& m, const torch::Tensor& x);
template <typename Holder>
torch::Tensor lora_call(Holder& layer, const torch::Tensor& x) {
  return lora_forward(*layer, x);
}

// W <- W + (alpha/r) B A for every adapter below root (merge) or the reverse (unmerge).
void merge_lora(torch::nn::Module& root);
void unmerge_lora(torch::nn::Module& root);
bool lora_merged(const torch::nn::Module& root);

// Adapter parameters as `<prefix><module>.lora_{A,B}.weight`, e.g. prefix "unet." for diffusers.
std::vector<std::pair<std::string, torch::Tensor>> lora_state_dict(const torch::nn::Module& root,
                                                                   const std::string& prefix = "");
// Saves in the diffusers/PEFT format, with the LoraConfig as the `lora_adapter_metadata`
// header entry (keys prefixed like the tensors) so diffusers' load_lora_adapter rebuilds it.
void save_lora(const torch::nn::Module& root, const std::filesystem::path& path, const std::string& prefix = "unet.");
// Adds adapters for every `<prefix><module>.lora_A.weight` in the file (rank from the shapes,
// alpha from the metadata, else alpha = rank) and loads them. Returns the adapted names.
std::vector<std::string> load_lora(torch::nn::Module& root, const std::filesystem::path& path,
                                   const std::string& prefix = "unet.");

}  // namespace osv
