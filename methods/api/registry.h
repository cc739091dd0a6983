// Methods register by name (as lm-evaluation-harness's @register_model). Registration is
// explicit (harness/builtin_methods.cpp) so static linking cannot drop a method silently.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "methods/api/method.h"

namespace osv {

class Config;
class SvdPipeline;

struct MethodInfo {
  std::string name;     // "osv"
  std::string title;    // "OSV (LGP + ACD, latent DINOv2 discriminator, TTS)"
  std::string paper;    // where the method comes from
  std::vector<std::string> samplers;  // sampler names it accepts
  // Builds the method from a resolved config on the loaded SVD pipeline (the teacher's models),
  // training what is missing through the run cache; throws osv::NotImplementedError until it lands.
  std::function<std::unique_ptr<Method>(const Config&, std::shared_ptr<SvdPipeline>)> create;
  // The method's own sampling defaults as config assignments ("sample.cfg=false"), applied over the
  // preset and under the user's config file and overrides: the teacher's CFG is not every method's.
  std::vector<std::string> sample_defaults = {};
  // `compare`'s CFG for the method when --cfg is not given: "none" or a w_max ("3.0").
  std::string default_cfg = "none";
  // `train --method NAME [--stage S]`: trains what is missing (cached) and returns the weights it
  // made. Empty: nothing to train beyond the SVD models themselves (the teacher).
  std::function<std::filesystem::path(const Config&, std::shared_ptr<SvdPipeline>, const std::string& stage)> train = {};
  // The --stage values `train` accepts.
  std::vector<std::string> stages = {"all"};
  // The rows a new regression baseline measures for the method: {sampler, steps, cfg} each.
  std::vector<std::array<std::string, 3>> regress_rows = {};
  // The config keys (integers) whose sum is the student optimiser steps the method trains: its
  // training budget, times train.batch. `compare --budget N` splits N between them in the ratio the
  // config has. Empty: the method is not trained by distillation (the teacher) and has no budget.
  std::vector<std::string> budget_keys = {};
  // The version tags of the code that trains the method's weights: the same constants its training
  // stages' cache keys carry, bumped when the recipe changes in code without a config key to show
  // it. A measured row's cache key includes them, so such a bump measures this method's rows again
  // and no other method's. Empty: the method trains nothing of its own (the teacher).
  std::vector<std::string> recipe = {};
};

class MethodRegistry {
 public:
  static MethodRegistry& instance();
  // Throws std::logic_error on a duplicate name.
  void add(MethodInfo info);
  // Throws osv::UsageError naming the known methods and a "did you mean".
  const MethodInfo& get(const std::string& name) const;
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<MethodInfo> methods_;
};

}  // namespace osv
