// The safetensors reader on arbitrary bytes: either a clear InputError or a file whose every tensor
// reads back within its declared bytes. Any other exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>

#include "common/errors.h"
#include "models/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  osv::fuzz::MemFile f(data, size);
  try {
    const auto st = osv::SafetensorsFile::open(f.path());
    for (const auto& e : st.entries()) {
      if (e.end - e.begin > (16u << 20)) continue;  // bounded work per input
      const auto t = st.tensor(e.name);
      if (static_cast<std::uint64_t>(t.nbytes()) != e.end - e.begin) __builtin_trap();
    }
  } catch (const osv::InputError&) {
  }
  return 0;
}
