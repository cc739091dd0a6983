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

// Autocast of the forward passes on `device`'s type (CPU or CUDA) to `dtype` while alive; fp32,
// and devices autocast does not cover, leave everything as it is. Weights stay in their dtype; the
// ops autocast keeps in fp32 (norms, softmax, exp/log/pow, reductions) stay fp32. Nests: the
// previous state comes back when it ends. Backward passes belong outside it.
class AutocastScope {
 public:
  AutocastScope(c10::Device device, c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_ = c10::kCPU;
  bool active_ = false;
  bool prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::kFloat;
};

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
