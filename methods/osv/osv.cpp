#include "methods/osv/osv.h"

#include "common/errors.h"
#include "methods/api/registry.h"

namespace osv {

void register_osv(MethodRegistry& registry) {
  registry.add(MethodInfo{
      "osv",
      "OSV: latent GAN pretraining + adversarial consistency distillation, Time Travel Sampler",
      "the OSV paper (two-stage training, latent DINOv2 discriminator, TTS)",
      {"consistency", "tts"},
      [](const Config&, std::shared_ptr<SvdPipeline>) -> std::unique_ptr<Method> {
        throw NotImplementedError("method 'osv' has not been implemented yet (issue #7)");
      }});
}

}  // namespace osv
