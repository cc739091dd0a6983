#include "methods/teacher/teacher.h"

#include "common/errors.h"
#include "methods/api/registry.h"

namespace osv {

void register_teacher(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "teacher",
      "SVD teacher: EDM v-prediction, Euler PF-ODE sampler with the per-frame CFG ramp",
      "Stable Video Diffusion img2vid, the teacher distilled in the OSV paper",
      {"euler"},
      [](const Config&) -> std::unique_ptr<Method> {
        throw NotImplementedError("method 'teacher' has not been implemented yet (issue #6)");
      }});
}

}  // namespace osv
