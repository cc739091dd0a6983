#include "methods/sfv/sfv.h"

#include "common/errors.h"
#include "methods/api/registry.h"

namespace osv {

void register_sfv(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "sfv",
      "SF-V: single-step adversarial fine-tuning with a UNet-encoder discriminator",
      "SF-V, reference [38] of the OSV paper (re-implemented there too)",
      {"consistency"},
      [](const Config&, std::shared_ptr<SvdPipeline>) -> std::unique_ptr<Method> {
        throw NotImplementedError("method 'sfv' has not been implemented yet (issue #8)");
      }});
}

}  // namespace osv
