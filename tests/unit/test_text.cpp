#include <gtest/gtest.h>

#include "common/text.h"

namespace osv {
namespace {

TEST(Text, StrictNumberParsing) {
  EXPECT_EQ(parse_int("42"), 42);
  EXPECT_EQ(parse_int("-3"), -3);
  EXPECT_FALSE(parse_int("4x"));
  EXPECT_FALSE(parse_int(""));
  EXPECT_FALSE(parse_int("99999999999999999999"));
  EXPECT_DOUBLE_EQ(*parse_double("1e-5"), 1e-5);
  EXPECT_FALSE(parse_double("1.0.0"));
  EXPECT_FALSE(parse_double(" 1"));
  EXPECT_FALSE(parse_double("nan"));
  EXPECT_EQ(parse_bool("Yes"), true);
  EXPECT_EQ(parse_bool("off"), false);
  EXPECT_FALSE(parse_bool("maybe"));
}

TEST(Text, SplitJoinTrim) {
  EXPECT_EQ(split("a,b,,c", ','), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(trim("  x y \n"), "x y");
}

TEST(Text, DidYouMean) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(did_you_mean("trian", {"train", "sample", "info"}), " (did you mean 'train'?)");
  EXPECT_EQ(did_you_mean("zzzzzz", {"train", "sample"}), "");
}

TEST(Text, Utf8ValidityAndEscaping) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("Fr\xc3\xa9" "chet \xe2\x80\x94 \xf0\x9f\x8e\xac"));  // é, em dash, 🎬
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x80"));          // truncated
  EXPECT_EQ(escape_non_utf8("a\xff" "b\xc3\xa9"), "a\\xff" "b\xc3\xa9");
}

}  // namespace
}  // namespace osv
