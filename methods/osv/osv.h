// OSV: latent GAN pretraining + adversarial consistency distillation, Time Travel Sampler
#pragma once

namespace osv {
class MethodRegistry;
void register_osv(MethodRegistry& registry);
}  // namespace osv
