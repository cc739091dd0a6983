// The video probe and decoder (FFmpeg behind a file-only protocol and format whitelist) on
// arbitrary bytes: a few small frames or a clear InputError.
#include <cstddef>
#include <cstdint>

#include "common/errors.h"
#include "datasets/video_io.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  osv::fuzz::MemFile f(data, size);
  osv::DecodeOptions d;
  d.frames = 4;
  d.height = 16;
  d.width = 16;
  try {
    const auto v = osv::decode_video(f.path(), d);
    const auto& t = v.frames;  // uint8 [T <= 4, 3, 16, 16]
    if (t.dim() != 4 || t.size(0) < 1 || t.size(0) > 4 || t.size(1) != 3 || t.size(2) != 16 || t.size(3) != 16)
      __builtin_trap();
  } catch (const osv::InputError&) {
  }
  return 0;
}
