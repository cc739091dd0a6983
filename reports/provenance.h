// The provenance block every result carries: what produced the numbers (config and its
// hash, source revision, torch, device, threads, build) and when.
#pragma once

#include <nlohmann/json.hpp>

namespace osv {

class Config;

// Machine and build facts, independent of any run ("osvbench info --json").
nlohmann::json environment_info();
// environment_info() plus the config, its hash and preset, and a UTC timestamp.
nlohmann::json provenance(const Config& config);

}  // namespace osv
