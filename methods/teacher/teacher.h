// SVD teacher: EDM v-prediction, Euler PF-ODE sampler with the per-frame CFG ramp (SPEC §1).
#pragma once

#include <memory>
#include <vector>

#include "methods/api/method.h"

namespace osv {
class Config;
class MethodRegistry;
class SvdPipeline;

class TeacherMethod : public Method {
 public:
  // `precision`: the UNet's forward passes autocast to it (fp32: as they are).
  TeacherMethod(std::shared_ptr<SvdPipeline> pipeline, double sigma_min, double sigma_max,
                c10::ScalarType precision = c10::kFloat);
  std::string name() const override { return "teacher"; }
  int nfe(const SampleOptions& o) const override { return o.steps * (o.cfg ? 2 : 1); }
  SampleResult sample(const Conditioning& cond, const torch::Tensor& noise, const SampleOptions& o) override;
  std::string weights_id() const override;

 private:
  std::shared_ptr<SvdPipeline> pipe_;
  double sigma_min_, sigma_max_;
  c10::ScalarType precision_;
};

void register_teacher(MethodRegistry& registry);
}  // namespace osv
