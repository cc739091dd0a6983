// Helpers of the end-to-end tests: run the osvbench executable, find run folders, read logs.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv::e2e {

// Runs `osvbench <args>` with stderr folded into stdout; returns (exit code, output).
inline std::pair<int, std::string> run(const std::string& args) {
  const std::string cmd = std::string(OSVBENCH_EXE) + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The first entry of `dir` whose name starts with `prefix` (empty path when none).
inline std::filesystem::path find_one(const std::filesystem::path& dir, const std::string& prefix) {
  if (!std::filesystem::exists(dir)) return {};
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) return e.path();
  return {};
}

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& f) {
  std::vector<nlohmann::json> v;
  std::ifstream in(f);
  std::string line;
  while (std::getline(in, line)) v.push_back(nlohmann::json::parse(line));
  return v;
}

}  // namespace osv::e2e
