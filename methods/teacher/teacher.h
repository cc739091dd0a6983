// SVD teacher: EDM v-prediction, Euler PF-ODE sampler with the per-frame CFG ramp
#pragma once

namespace osv {
class MethodRegistry;
void register_teacher(MethodRegistry& registry);
}  // namespace osv
