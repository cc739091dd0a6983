#include "methods/distill/student_method.h"

#include <fmt/format.h>

#include "common/errors.h"
#include "methods/distill/student.h"
#include "models/device.h"

namespace osv {
namespace {

class ConsistencyStudent : public Method {
 public:
  explicit ConsistencyStudent(ConsistencyStudentSpec spec) : s_(std::move(spec)) { s_.student->eval(); }
  std::string name() const override { return s_.name; }
  int nfe(const SampleOptions& o) const override { return (o.sampler == "tts" ? 2 : 1) * o.steps * (o.cfg ? 2 : 1); }
  SampleResult sample(const Conditioning& cond, const torch::Tensor& noise, const SampleOptions& o) override {
    torch::NoGradGuard g;
    if (o.cfg && !s_.allow_cfg) throw UsageError(s_.cfg_refusal);
    int64_t calls = 0;
    ConsistencyNet net = sampling_net(s_.student, cond, o.cfg, o.cfg_min, o.cfg_max, &calls);
    ConsistencySampleResult r;
    AutocastScope autocast(noise.device(), s_.precision);
    if (o.sampler == "tts" && s_.tts) {
      r = tts_sample(net, noise, s_.sigmas(o.steps), s_.sigmas(o.steps + 1), s_.param, s_.sigma_min, *s_.tts,
                     s_.tts_fresh_noise);
    } else if (o.sampler == "consistency") {
      r = consistency_sample(net, noise, s_.sigmas(o.steps), s_.param, s_.sigma_min);
    } else {
      std::string known;
      for (const auto& k : consistency_student_samplers(s_)) known += (known.empty() ? "" : " or ") + k;
      throw UsageError(fmt::format("{} has no sampler '{}': {}", s_.name, o.sampler, known));
    }
    return SampleResult{r.latents, calls};
  }
  std::string weights_id() const override { return s_.weights_id; }

 private:
  ConsistencyStudentSpec s_;
};

}  // namespace

std::vector<std::string> consistency_student_samplers(const ConsistencyStudentSpec& spec) {
  if (spec.tts) return {"consistency", "tts"};
  return {"consistency"};
}

std::unique_ptr<Method> make_consistency_student(ConsistencyStudentSpec spec) {
  return std::make_unique<ConsistencyStudent>(std::move(spec));
}

}  // namespace osv
