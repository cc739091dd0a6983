// A training run's checkpoint: one safetensors file (checkpoint.safetensors) holding every tensor of
// the training state (weights, EMA copies, optimiser moments), with the counters and optimiser
// scalars (steps, learning rates, betas) as JSON in its metadata under "osvbench.state".
//
// Why safetensors and not torch::save: a pickle-based archive can run code when it is loaded, so a
// runs/ folder could not be shared safely; a safetensors file is only read as bytes, validated before
// use (models/safetensors.h). One file, written atomically, so the tensors and the scalars never come
// from two different steps.
//
// Reading checks each tensor against its destination: a missing name or a wrong shape is an
// osv::InputError naming the file, the tensor and both shapes.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "models/safetensors.h"

namespace osv {

inline constexpr const char* kCheckpointFormat = "osvbench.checkpoint/1";

class CheckpointWriter {
 public:
  void tensor(const std::string& name, const torch::Tensor& t);
  // A JSON value (counters, optimiser scalars); names are their own namespace, separate from tensors'.
  void scalar(const std::string& name, nlohmann::json value);
  // A module's parameters and buffers under prefix + its own names.
  void module(const std::string& prefix, const torch::nn::Module& m);
  // Tensors in order under prefix + index (trainable parameters, EMA copies).
  void tensors(const std::string& prefix, const std::vector<torch::Tensor>& v);
  // An Adam or AdamW optimiser's state under `key`: per group its options, per parameter its step
  // count and moment tensors (key.g<group>.p<index>.exp_avg, ...). Other optimisers: std::logic_error.
  void optimizer(const std::string& key, const torch::optim::Optimizer& opt);
  // Writes the file atomically (temp name, fsync, rename).
  void save(const std::filesystem::path& path) const;
  // What was recorded: the tensors share their storage with the state they were taken from.
  const std::vector<std::pair<std::string, torch::Tensor>>& entries() const { return tensors_; }
  // sha256 of every tensor's name, dtype, shape and bytes, and of the scalars: equal digests, equal state.
  std::string digest() const;

 private:
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;
  nlohmann::json scalars_ = nlohmann::json::object();
};

class CheckpointReader {
 public:
  // Throws osv::InputError for a file that is not a valid checkpoint of this format.
  static CheckpointReader open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  bool has_tensor(const std::string& name) const { return file_.contains(name); }
  // Copies the stored tensor into `dst` (any device and dtype); the shapes must match.
  void read_into(const std::string& name, torch::Tensor& dst) const;
  bool has_scalar(const std::string& name) const { return scalars_.contains(name); }
  const nlohmann::json& scalar(const std::string& name) const;
  void module(const std::string& prefix, torch::nn::Module& m) const;
  void tensors(const std::string& prefix, std::vector<torch::Tensor>& v) const;
  void optimizer(const std::string& key, torch::optim::Optimizer& opt) const;

 private:
  explicit CheckpointReader(SafetensorsFile f) : file_(std::move(f)) {}
  SafetensorsFile file_;
  nlohmann::json scalars_;
};

}  // namespace osv
