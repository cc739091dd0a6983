#include "methods/animatelcm/animatelcm.h"

#include "common/errors.h"
#include "methods/api/registry.h"

namespace osv {

void register_animatelcm(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "animatelcm",
      "AnimateLCM: consistency distillation, k-step consistency sampler",
      "AnimateLCM, reference [32] of the OSV paper",
      {"consistency"},
      [](const Config&, std::shared_ptr<SvdPipeline>) -> std::unique_ptr<Method> {
        throw NotImplementedError("method 'animatelcm' has not been implemented yet (issue #8)");
      }});
}

}  // namespace osv
