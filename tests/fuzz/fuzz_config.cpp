// The config parser on arbitrary bytes: the first byte picks the path — 0: each line is a
// key=value override on the tiny preset; else the rest is a JSON config file. Either a clear
// UsageError/InputError or a config that resolves, hashes and reads back (from_json) the same.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/errors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    osv::Config c;
    if (data[0] % 2 == 0) {
      std::vector<std::string> overrides;
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) overrides.push_back(line);
      c = osv::Config::resolve("tiny", overrides);
    } else {
      osv::fuzz::MemFile f(data + 1, size - 1);
      c = osv::Config::resolve("tiny", {}, std::filesystem::path(f.path()));
    }
    const auto back = osv::Config::from_json(c.json());
    if (back.hash() != c.hash()) __builtin_trap();
  } catch (const osv::UsageError&) {
  } catch (const osv::InputError&) {
  }
  return 0;
}
