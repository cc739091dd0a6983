#include "methods/teacher/teacher.h"

#include "common/config.h"
#include "common/errors.h"
#include "methods/api/registry.h"
#include "methods/svd/edm.h"
#include "methods/svd/svd_pipeline.h"
#include "models/device.h"

namespace osv {

TeacherMethod::TeacherMethod(std::shared_ptr<SvdPipeline> pipeline, double sigma_min, double sigma_max,
                             c10::ScalarType precision)
    : pipe_(std::move(pipeline)), sigma_min_(sigma_min), sigma_max_(sigma_max), precision_(precision) {}

SampleResult TeacherMethod::sample(const Conditioning& cond, const torch::Tensor& noise, const SampleOptions& o) {
  torch::NoGradGuard g;
  auto& unet = pipe_->models().unet;
  unet->eval();
  const auto sigmas = karras_sigmas(o.steps, sigma_min_, sigma_max_);
  AutocastScope autocast(noise.device(), precision_);
  auto r = euler_sample(conditioned_network(unet, cond), noise, sigmas, o.cfg, o.cfg_min, o.cfg_max);
  return SampleResult{r.latents, r.nfe};
}

std::string TeacherMethod::weights_id() const { return "svd:" + pipe_->models().root.string(); }

void register_teacher(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "teacher",
      "SVD teacher: EDM v-prediction, Euler PF-ODE sampler with the per-frame CFG ramp",
      "Stable Video Diffusion img2vid, the teacher distilled in the OSV paper",
      {"euler"},
      [](const Config& c, std::shared_ptr<SvdPipeline> pipe) -> std::unique_ptr<Method> {
        if (!pipe) throw InputError("the teacher needs the SVD models (model.path or `osvbench prepare`)");
        return std::make_unique<TeacherMethod>(pipe, c.get<double>("edm.sigma_min"), c.get<double>("edm.sigma_max"),
                                               parse_dtype(c.get<std::string>("precision")));
      },
      {},      // samples as the preset says: 25 Euler steps, CFG ramp 1 -> 3
      "3.0",  // the paper's teacher rows: CFG 3.0
      {},     // nothing to train beyond the SVD models (the embedded ones are built by prepare)
      {"all"},
      {{{"euler", "2", "3.0"}}}});
}

}  // namespace osv
