// Devices and dtypes as configs name them ("cpu", "cuda:1", "bf16"), and what the
// machine offers. Shared by every method and by `osvbench info`.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace osv {

// Throws osv::UsageError for malformed names and for CUDA devices this process cannot use.
c10::Device parse_device(std::string_view name);
// "fp32" | "fp16" | "bf16"; throws osv::UsageError otherwise.
c10::ScalarType parse_dtype(std::string_view name);
std::string dtype_name(c10::ScalarType t);

struct AcceleratorInfo {
  int index = 0;
  std::string name;
  std::uint64_t total_memory = 0;  // bytes
  int major = 0, minor = 0;        // compute capability
};

bool cuda_available();
std::vector<AcceleratorInfo> cuda_devices();  // empty in CPU-only builds

// The CUDA caching allocator's peak allocated bytes on a device since the last reset (0 in
// CPU-only builds), and the reset.
std::int64_t cuda_peak_allocated_bytes(int device = 0);
void cuda_reset_peak(int device = 0);

}  // namespace osv
