// The precompiled header shared by every osvbench target (see cmake/OsvTargets.cmake).
// Only stable, heavy, third-party headers belong here; never project headers.
#pragma once

#include <torch/torch.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
