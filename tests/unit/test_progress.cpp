// Progress: plain periodic lines off a terminal, rate and ETA from an injected clock.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "common/progress.h"

namespace osv {
namespace {

std::string slurp(std::FILE* f) {
  std::rewind(f);
  std::string s;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) s += buf;
  return s;
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(format_duration(7), "0:07");
  EXPECT_EQ(format_duration(205), "3:25");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, PlainModePrintsPeriodicLinesWithRateAndEta) {
  std::FILE* f = std::tmpfile();
  double now = 0;
  {
    Progress::Options o;
    o.out = f;
    o.tty = 0;
    o.interval_s = 10;
    o.clock = [&] { return now; };
    Progress p(100, "train", o);
    for (int i = 0; i < 100; ++i) {
      now += 1.0;  // 1 item per second
      p.advance();
      if (i == 49) {
        EXPECT_NEAR(p.rate(), 1.0, 1e-9);
        EXPECT_NEAR(p.eta_seconds(), 50.0, 1e-9);
      }
    }
  }
  const std::string out = slurp(f);
  std::fclose(f);
  // First update, then one line per 10 s, then the final line.
  int lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_EQ(lines, 11) << out;
  EXPECT_NE(out.find("train [#"), std::string::npos);
  EXPECT_NE(out.find("1/100"), std::string::npos);
  EXPECT_NE(out.find("ETA 1:39"), std::string::npos) << out;
  EXPECT_NE(out.find("100/100 100%"), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
}

TEST(Progress, TerminalModeRedrawsOneLine) {
  std::FILE* f = std::tmpfile();
  double now = 0;
  {
    Progress::Options o;
    o.out = f;
    o.tty = 1;
    o.clock = [&] { return now; };
    Progress p(3, "sample", o);
    p.set_postfix("nfe 2");
    for (int i = 0; i < 3; ++i) {
      now += 0.5;
      p.advance();
    }
  }
  const std::string out = slurp(f);
  std::fclose(f);
  EXPECT_NE(out.find('\r'), std::string::npos);
  EXPECT_NE(out.find("nfe 2"), std::string::npos);
  EXPECT_NE(out.find("2.00 it/s"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

TEST(Progress, NestedBarShowsTheOuterSummaryAndItsEta) {
  std::FILE* f = std::tmpfile();
  double now = 0;
  Progress::Options o;
  o.out = f;
  o.tty = 0;
  o.interval_s = 1000;
  o.clock = [&] { return now; };
  Progress rows(4, "rows", o);
  now = 10;
  rows.advance();  // 1 row in 10 s
  {
    Progress inner(10, "sample osv", o);
    now = 15;
    inner.advance(5);  // half of row 2 done at t = 15: 1.5 rows in 15 s -> 2.5 rows left -> ETA 25 s
    EXPECT_EQ(inner.line().rfind("[rows 1/4 ETA 0:25] sample osv [", 0), 0u) << inner.line();
  }
  rows.advance();
  // A bar started after the inner one finished is not nested under it.
  Progress next(3, "other", o);
  EXPECT_EQ(next.line().rfind("[rows 2/4", 0), 0u) << next.line();
  next.finish();
  rows.finish();
  Progress alone(3, "alone", o);
  EXPECT_EQ(alone.line().rfind("alone [", 0), 0u) << alone.line();
  alone.finish();
  std::fclose(f);
}

}  // namespace
}  // namespace osv
