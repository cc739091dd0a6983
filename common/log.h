// Levelled logging to stderr through fmt: `OSV_LOG_INFO("trained {} steps", n)`.
// The level comes from --log-level or the OSVBENCH_LOG environment variable.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>

namespace osv::log {

enum class Level { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };

void set_level(Level level);
Level level();
std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);
// Applies OSVBENCH_LOG if set to a valid level name; returns false on an invalid value.
bool init_from_env();

void write(Level level, std::string_view message);

template <typename... Args>
void log(Level lvl, fmt::format_string<Args...> f, Args&&... args) {
  if (lvl < level()) return;
  write(lvl, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void trace(fmt::format_string<Args...> f, Args&&... args) { log(Level::trace, f, std::forward<Args>(args)...); }
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) { log(Level::debug, f, std::forward<Args>(args)...); }
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) { log(Level::info, f, std::forward<Args>(args)...); }
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) { log(Level::warn, f, std::forward<Args>(args)...); }
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) { log(Level::error, f, std::forward<Args>(args)...); }

}  // namespace osv::log
