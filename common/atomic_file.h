// Crash-safe file writes: the content goes to a temporary file beside the target, is
// fsync'ed, then renamed over the target, and the directory is fsync'ed. A reader sees the
// old file or the new one, never a torn one; a failure (exception, full disk, kill -9)
// leaves the old file as it was and removes the temporary when it can.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace osv {

// Writes `data` to `path` atomically. Creates missing parent directories.
void atomic_write(const std::filesystem::path& path, std::string_view data);

// Streams into the temporary file through `write_chunk` calls made by `producer`; if
// `producer` throws, the target is untouched and the exception propagates.
using ChunkWriter = std::function<void(std::string_view)>;
void atomic_write_with(const std::filesystem::path& path, const std::function<void(const ChunkWriter&)>& producer);

// Whole-file read; throws osv::InputError naming the file when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// The temporary-name prefix atomic writes use, so stale ones can be recognised and cleaned.
inline constexpr std::string_view kAtomicTempMarker = ".osvtmp.";

}  // namespace osv
