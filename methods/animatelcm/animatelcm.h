// AnimateLCM: consistency distillation, k-step consistency sampler
#pragma once

namespace osv {
class MethodRegistry;
void register_animatelcm(MethodRegistry& registry);
}  // namespace osv
