// A second device for machines without a GPU, for tests: tensors on `fake_device()` hold host
// memory and every operation on them runs a CPU kernel (random numbers come from the CPU generator,
// so a seeded run draws what it draws on the CPU) — but, as on CUDA, an operation that
// mixes a device tensor with a CPU tensor of one or more dimensions throws, naming the operator.
// Code that trains or samples on it shows a tensor created on the wrong device (the leak a GPU run
// would hit) on a CPU-only CI machine. Modules move to it with `module->to(fake_device())`.
//
// It is PyTorch's "privateuseone" backend, registered here (ATen's boxed CPU fallback does the
// arithmetic; views, copies and allocation are implemented so that aliasing works as on a device).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace osv::testing {

// The device (registers the backend on first call).
c10::Device fake_device();

// Operators the fake device ran on its fallback since the last reset (a test can show that work
// really ran there, not on the CPU).
std::int64_t fake_device_ops();
void reset_fake_device_ops();

}  // namespace osv::testing
