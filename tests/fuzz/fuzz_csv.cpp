// The CSV reader (OpenVid-1M metadata) on arbitrary bytes: rows or a clear InputError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/errors.h"
#include "datasets/folder_dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    std::size_t cells = 0;
    for (const auto& row : osv::parse_csv(text)) cells += row.size();
    if (cells > size + 1) __builtin_trap();  // never more cells than bytes (+ the empty last one)
  } catch (const osv::InputError&) {
  }
  return 0;
}
