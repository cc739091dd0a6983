// Helpers of the C++ side of the parity tests: where the references are, and a comparison
// that always prints its max difference (llm.c style golden checks).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "models/safetensors.h"

namespace osv::parity {

inline std::filesystem::path dir() {
  const char* d = std::getenv("OSVBENCH_PARITY_DIR");
  return d ? std::filesystem::path(d) : std::filesystem::path("parity");
}

inline SafetensorsFile io(const std::string& model) { return SafetensorsFile::open(dir() / (model + "_io.safetensors")); }

// Max |a - b|, printed; fails the test above `tol`.
inline double expect_close(const std::string& what, const torch::Tensor& actual, const torch::Tensor& expected,
                           double tol) {
  EXPECT_EQ(actual.sizes(), expected.sizes()) << what;
  if (actual.sizes() != expected.sizes()) return INFINITY;
  const double d = (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
  const double scale = expected.abs().max().item<double>();
  std::printf("[parity] %-40s max |diff| = %.3g (max |ref| %.3g, tolerance %.2g)\n", what.c_str(), d, scale, tol);
  EXPECT_LE(d, tol) << what << ": max |diff| " << d;
  return d;
}

}  // namespace osv::parity
