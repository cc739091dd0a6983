#include "tests/unit/fake_device.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/EmptyTensor.h>
#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <ATen/native/CPUFallback.h>
#include <ATen/native/Resize.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_native.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

namespace osv::testing {
namespace {

constexpr c10::DeviceType kFake = c10::DeviceType::PrivateUse1;
std::atomic<std::int64_t> g_ops{0};

struct HostMemoryAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override {
    void* p = n ? c10::alloc_cpu(n) : nullptr;
    return {p, p, &c10::free_cpu, c10::Device(kFake, 0)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &c10::free_cpu; }
  void copy_data(void* dst, const void* src, std::size_t n) const override { std::memcpy(dst, src, n); }
};
HostMemoryAllocator g_allocator;

struct FakeGuard final : c10::impl::DeviceGuardImplInterface {
  c10::DeviceType type() const override { return kFake; }
  c10::Device exchangeDevice(c10::Device) const override { return {kFake, 0}; }
  c10::Device getDevice() const override { return {kFake, 0}; }
  void setDevice(c10::Device) const override {}
  void uncheckedSetDevice(c10::Device) const noexcept override {}
  c10::Stream getStream(c10::Device d) const override { return c10::Stream(c10::Stream::DEFAULT, d); }
  c10::Stream exchangeStream(c10::Stream s) const override { return s; }
  c10::DeviceIndex deviceCount() const noexcept override { return 1; }
};
C10_REGISTER_GUARD_IMPL(PrivateUse1, FakeGuard);

// Autograd and seeding ask the accelerator's hooks: one device, a generator that seeding may set
// (the arithmetic draws from the CPU generator, as the CPU would).
struct FakeHooks final : at::PrivateUse1HooksInterface {
  bool isBuilt() const override { return true; }
  bool isAvailable() const override { return true; }
  bool hasPrimaryContext(c10::DeviceIndex) const override { return true; }
  c10::DeviceIndex deviceCount() const override { return 1; }
  c10::DeviceIndex getCurrentDevice() const override { return 0; }
  at::Device getDeviceFromPtr(void*) const override { return {kFake, 0}; }
  const at::Generator& getDefaultGenerator(c10::DeviceIndex) const override {
    static at::Generator g = at::make_generator<at::CPUGeneratorImpl>();
    return g;
  }
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t n) const override {
    auto* impl = storage.unsafeGetStorageImpl();
    auto data = g_allocator.allocate(n);
    if (const auto keep = std::min(n, impl->nbytes())) std::memcpy(data.get(), impl->data(), keep);
    impl->set_data_ptr_noswap(std::move(data));
    impl->set_nbytes(n);
  }
};

const bool g_registered = [] {
  c10::register_privateuse1_backend("fakedevice");
  at::RegisterPrivateUse1HooksInterface(new FakeHooks());
  return true;
}();

// A CPU tensor over the same memory (no copy), for the kernels that move or view data.
at::Tensor host_alias(const at::Tensor& t) {
  if (t.device().type() != kFake) return t;
  if (t.numel() == 0) return at::empty(t.sizes(), t.options().device(c10::kCPU));
  return at::from_blob(t.data_ptr(), t.sizes(), t.strides(), t.options().device(c10::kCPU));
}

at::Tensor empty_memory_format(c10::IntArrayRef size, std::optional<c10::ScalarType> dtype,
                               std::optional<c10::Layout>, std::optional<c10::Device>, std::optional<bool>,
                               std::optional<c10::MemoryFormat> memory_format) {
  return at::detail::empty_generic(size, &g_allocator, c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                   c10::dtype_or_default(dtype), memory_format);
}

at::Tensor empty_strided(c10::IntArrayRef size, c10::IntArrayRef stride, std::optional<c10::ScalarType> dtype,
                         std::optional<c10::Layout>, std::optional<c10::Device>, std::optional<bool>) {
  return at::detail::empty_strided_generic(size, stride, &g_allocator,
                                           c10::DispatchKeySet(c10::DispatchKey::PrivateUse1),
                                           c10::dtype_or_default(dtype));
}

at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool) {
  if (dst.numel() == 0) return dst;
  host_alias(dst).copy_(host_alias(self));
  return dst;
}

at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  dst.resize_(self.sizes());
  return copy_from(self, dst, false);
}

const at::Tensor& resize(const at::Tensor& self, c10::IntArrayRef size, std::optional<c10::MemoryFormat> format) {
  return at::native::resize_(self, size, format);
}

bool compatible_shallow_copy(const at::Tensor& a, const at::Tensor& b) {
  const auto dense = [](const at::Tensor& t) { return t.layout() == c10::kStrided; };
  return dense(a) && dense(b);
}

// CUDA accepts host index tensors in advanced indexing; so does this device.
bool accepts_host_tensors(const std::string& op) {
  return op == "aten::index" || op == "aten::index_put_" || op == "aten::_index_put_impl_" || op == "aten::index_put";
}

void check_devices(const c10::OperatorHandle& op, const torch::jit::Stack& stack) {
  const auto& schema = op.schema();
  const auto n = schema.arguments().size();
  bool on_device = false;
  std::string host;
  const auto visit = [&](const at::Tensor& t, const std::string& name) {
    if (!t.defined()) return;
    if (t.device().type() == kFake) on_device = true;
    else if (t.device().is_cpu() && t.dim() > 0 && host.empty()) host = name;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const auto& v = stack[stack.size() - n + i];
    const auto& name = schema.arguments()[i].name();
    if (v.isTensor()) visit(v.toTensor(), name);
    else if (v.isTensorList()) for (const at::Tensor& t : v.toTensorList()) visit(t, name);
    else if (v.isOptionalTensorList())
      for (const std::optional<at::Tensor> t : v.toOptionalTensorList())
        if (t.has_value()) visit(*t, name);
  }
  if (on_device && !host.empty() && !accepts_host_tensors(schema.name()))
    throw std::runtime_error("device leak: " + schema.name() + " got a CPU tensor as `" + host +
                             "` next to tensors on the device");
}

void fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  check_devices(op, *stack);
  ++g_ops;
  at::native::cpu_fallback(op, stack, /*error_on_views=*/true);
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) { m.fallback(torch::CppFunction::makeFromBoxedFunction<&fallback>()); }

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  // Composite operators that would pick a backend-specific path for an unknown device: the CPU's.
  for (const char* op : {"convolution", "convolution_backward", "native_group_norm", "native_group_norm_backward",
                         "native_layer_norm", "native_layer_norm_backward"})
    m.impl(op, torch::CppFunction::makeFromBoxedFunction<&fallback>());
  m.impl("empty.memory_format", empty_memory_format);
  m.impl("empty_strided", empty_strided);
  m.impl("_copy_from", copy_from);
  m.impl("_copy_from_and_resize", copy_from_and_resize);
  m.impl("resize_", resize);
  m.impl("_has_compatible_shallow_copy_type", compatible_shallow_copy);
  m.impl("view", [](const at::Tensor& self, c10::IntArrayRef size) { return at::native::view(self, size); });
  m.impl("_reshape_alias", [](const at::Tensor& self, c10::IntArrayRef size, c10::IntArrayRef stride) {
    return at::native::_reshape_alias(self, size, stride);
  });
  m.impl("as_strided", [](const at::Tensor& self, c10::IntArrayRef size, c10::IntArrayRef stride,
                          std::optional<int64_t> offset) {
    return at::native::as_strided_tensorimpl(self, size, stride, offset);
  });
  m.impl("unfold", [](const at::Tensor& self, int64_t d, int64_t size, int64_t step) {
    return at::native::unfold(self, d, size, step);
  });
}

}  // namespace

c10::Device fake_device() {
  (void)g_registered;
  return {kFake, 0};
}
std::int64_t fake_device_ops() { return g_ops.load(); }
void reset_fake_device_ops() { g_ops = 0; }

}  // namespace osv::testing
