// SF-V: single-step adversarial fine-tuning with a UNet-encoder discriminator
#pragma once

namespace osv {
class MethodRegistry;
void register_sfv(MethodRegistry& registry);
}  // namespace osv
