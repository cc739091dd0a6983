// Small string utilities: strict number parsing, splitting, and "did you mean" suggestions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osv {

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string trim(std::string_view s);

// Whole-string parses: "12x", "", " 3" and out-of-range values give nullopt.
std::optional<long long> parse_int(std::string_view s);
std::optional<double> parse_double(std::string_view s);
// true/false, 1/0, yes/no, on/off (case-insensitive).
std::optional<bool> parse_bool(std::string_view s);

// Levenshtein distance between two strings.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidates closest to `word` (distance <= max(2, |word|/3)), best first, at most `limit`.
std::vector<std::string> closest_matches(std::string_view word, const std::vector<std::string>& candidates,
                                         std::size_t limit = 3);
// " (did you mean 'x'?)" or " (did you mean 'x' or 'y'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);
// `s` with every byte that is not part of well-formed UTF-8 written as \xNN.
std::string escape_non_utf8(std::string_view s);

// The deepest nesting of [ and { outside strings in a JSON text (0 for a scalar). A cheap scan
// that bounds what a parser (and the recursive destruction of its result) would have to handle.
int json_nesting_depth(std::string_view text);

}  // namespace osv
