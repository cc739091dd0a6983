#include "models/device.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include "common/errors.h"
#include "common/text.h"
#include "osv_build_config.h"

#if OSV_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace osv {

AutocastScope::AutocastScope(c10::Device device, c10::ScalarType dtype) : type_(device.type()) {
  if (dtype == c10::kFloat || (type_ != c10::kCPU && type_ != c10::kCUDA)) return;
  active_ = true;
  prev_enabled_ = at::autocast::is_autocast_enabled(type_);
  prev_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();  // casts cached for this scope
  at::autocast::set_autocast_enabled(type_, prev_enabled_);
  at::autocast::set_autocast_dtype(type_, prev_dtype_);
}

bool cuda_available() { return OSV_WITH_CUDA && torch::cuda::is_available(); }

std::vector<AcceleratorInfo> cuda_devices() {
  std::vector<AcceleratorInfo> out;
#if OSV_WITH_CUDA
  if (!torch::cuda::is_available()) return out;
  const int n = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < n; ++i) {
    const auto* p = at::cuda::getDeviceProperties(i);
    out.push_back(AcceleratorInfo{i, p->name, static_cast<std::uint64_t>(p->totalGlobalMem), p->major, p->minor});
  }
#endif
  return out;
}

std::int64_t cuda_peak_allocated_bytes([[maybe_unused]] int device) {
#if OSV_WITH_CUDA
  const auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return s.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
#else
  return 0;
#endif
}

void cuda_reset_peak([[maybe_unused]] int device) {
#if OSV_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#endif
}

c10::Device parse_device(std::string_view name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
#if OSV_WITH_CUDA
    // "cuda" is the current device: GPU LOCAL_RANK for a rank of a process group (dist::init sets it).
    if (torch::cuda::is_available()) index = c10::cuda::current_device();
#endif
    if (name.size() > 4) {
      auto i = parse_int(name.substr(5));
      if (!i || *i < 0) throw UsageError(fmt::format("device '{}': expected cuda or cuda:N", name));
      index = static_cast<int>(*i);
    }
    if (!OSV_WITH_CUDA)
      throw UsageError(fmt::format("device '{}' requested, but this osvbench was built without CUDA "
                                   "(configure with the cuda preset; see README)",
                                   name));
    if (!torch::cuda::is_available())
      throw UsageError(fmt::format("device '{}' requested, but no CUDA device is visible", name));
    const auto n = static_cast<int>(torch::cuda::device_count());
    if (index >= n) throw UsageError(fmt::format("device '{}' requested, but only {} CUDA device(s) exist", name, n));
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError(fmt::format("unknown device '{}': expected cpu, cuda or cuda:N", name));
}

c10::ScalarType parse_dtype(std::string_view name) {
  if (name == "fp32") return c10::kFloat;
  if (name == "fp16") return c10::kHalf;
  if (name == "bf16") return c10::kBFloat16;
  throw UsageError(fmt::format("unknown dtype '{}': expected fp32, fp16 or bf16", name));
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return "fp32";
    case c10::kHalf: return "fp16";
    case c10::kBFloat16: return "bf16";
    default: return c10::toString(t);
  }
}

}  // namespace osv
