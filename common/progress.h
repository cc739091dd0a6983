// Progress reporting for anything long (training, sampling, feature extraction).
// On a terminal: one redrawn line `label [#####.....] 45/100 3.20 it/s ETA 0:17`.
// Otherwise (CI logs, files): a plain line every `interval` seconds and at the end.
// Nesting: a bar started while another is running on the same thread (a compare's rows, then the
// current row's sampling) prefixes its line with the outer bar's summary and ETA:
// `[rows 3/20 ETA 12:40] sample osv [####....] 64/256 ...`.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace osv {

// "0:07", "3:25", "1:02:03"; negative or non-finite seconds give "?".
std::string format_duration(double seconds);

class Progress {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  struct Options {
    double interval_s = 10.0;             // plain mode: seconds between lines
    std::string unit = "it";
    std::FILE* out = stderr;
    int tty = -1;                         // -1: detect with isatty(out); 0/1 force
    Clock clock;                          // default: steady_clock
  };

  Progress(std::int64_t total, std::string label);
  Progress(std::int64_t total, std::string label, Options options);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Process-wide: false silences every bar (a process group's ranks other than 0; dist::init).
  static void set_enabled(bool enabled);

  void advance(std::int64_t n = 1);
  void set(std::int64_t done);
  // Free text after the rate, e.g. "loss 0.123".
  void set_postfix(std::string postfix);
  void finish();

  double rate() const;          // items per second since start
  double eta_seconds() const;   // remaining / rate; -1 when unknown
  std::string line() const;     // the current status line, without newline
  std::string summary() const;  // "label done/total ETA m:ss", as nested bars show it

 private:
  void maybe_draw(bool force);

  std::int64_t total_;
  std::int64_t done_ = 0;
  std::string label_;
  std::string postfix_;
  Options opt_;
  bool tty_ = false;
  bool finished_ = false;
  double start_ = 0;
  double last_draw_ = -1e300;
  const Progress* parent_ = nullptr;
};

}  // namespace osv
