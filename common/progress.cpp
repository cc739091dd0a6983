#include "common/progress.h"

#include <atomic>

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <vector>
#include <utility>

namespace osv {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

namespace {
// The bars alive on this thread, outermost first: a bar started while another runs is nested
// under it and shows the outer bar's summary in front of its own line.
thread_local std::vector<Progress*> active_bars;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Progress::Progress(std::int64_t total, std::string label) : Progress(total, std::move(label), Options{}) {}

Progress::Progress(std::int64_t total, std::string label, Options options)
    : total_(total), label_(std::move(label)), opt_(std::move(options)) {
  if (!opt_.clock) opt_.clock = steady_seconds;
  tty_ = opt_.tty >= 0 ? opt_.tty == 1 : ::isatty(::fileno(opt_.out)) == 1;
  start_ = opt_.clock();
  if (!active_bars.empty()) parent_ = active_bars.back();
  active_bars.push_back(this);
}

std::string Progress::summary() const {
  std::string s = fmt::format("{} {}/{}", label_, done_, total_);
  if (total_ > 0 && done_ < total_) {
    // The outer bar's ETA counts the running inner bar's fraction as partial progress.
    double done = static_cast<double>(done_);
    const auto it = std::find(active_bars.begin(), active_bars.end(), this);
    if (it != active_bars.end() && it + 1 != active_bars.end() && (*(it + 1))->total_ > 0)
      done += std::clamp(static_cast<double>((*(it + 1))->done_) / static_cast<double>((*(it + 1))->total_), 0.0, 1.0);
    const double dt = opt_.clock() - start_;
    if (done > 0 && dt > 0)
      s += fmt::format(" ETA {}", format_duration((static_cast<double>(total_) - done) * dt / done));
  }
  return s;
}

Progress::~Progress() { finish(); }

void Progress::advance(std::int64_t n) { set(done_ + n); }

void Progress::set(std::int64_t done) {
  done_ = done;
  maybe_draw(false);
}

void Progress::set_postfix(std::string postfix) { postfix_ = std::move(postfix); }

double Progress::rate() const {
  const double dt = opt_.clock() - start_;
  return dt > 0 ? static_cast<double>(done_) / dt : 0.0;
}

double Progress::eta_seconds() const {
  const double r = rate();
  if (total_ <= 0 || r <= 0) return -1;
  return static_cast<double>(std::max<std::int64_t>(total_ - done_, 0)) / r;
}

std::string Progress::line() const {
  std::string s = parent_ ? "[" + parent_->summary() + "] " + label_ : label_;
  const double r = rate();
  const double elapsed = opt_.clock() - start_;
  if (total_ > 0) {
    constexpr int kWidth = 24;
    const double frac = std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    const int fill = static_cast<int>(frac * kWidth);
    s += fmt::format(" [{}{}] {}/{} {:3.0f}%", std::string(fill, '#'), std::string(kWidth - fill, '.'), done_,
                     total_, frac * 100.0);
  } else {
    s += fmt::format(" {}", done_);
  }
  s += r >= 1.0 || r == 0.0 ? fmt::format(" {:.2f} {}/s", r, opt_.unit)
                            : fmt::format(" {:.2f} s/{}", 1.0 / r, opt_.unit);
  s += fmt::format(" elapsed {}", format_duration(elapsed));
  if (total_ > 0 && done_ < total_) s += fmt::format(" ETA {}", format_duration(eta_seconds()));
  if (!postfix_.empty()) s += " " + postfix_;
  return s;
}

namespace {
std::atomic<bool> bars_enabled{true};
}  // namespace

void Progress::set_enabled(bool enabled) { bars_enabled = enabled; }

void Progress::maybe_draw(bool force) {
  if (finished_ || !bars_enabled) return;
  const double now = opt_.clock();
  const double min_gap = tty_ ? 0.1 : opt_.interval_s;
  if (!force && now - last_draw_ < min_gap) return;
  last_draw_ = now;
  const std::string l = line();
  if (tty_) {
    std::fprintf(opt_.out, "\r%s\033[K", l.c_str());
  } else {
    std::fprintf(opt_.out, "%s\n", l.c_str());
  }
  std::fflush(opt_.out);
}

void Progress::finish() {
  if (finished_) return;
  maybe_draw(true);
  if (tty_ && bars_enabled) std::fputc('\n', opt_.out);
  std::fflush(opt_.out);
  finished_ = true;
  active_bars.erase(std::remove(active_bars.begin(), active_bars.end(), this), active_bars.end());
}

}  // namespace osv
