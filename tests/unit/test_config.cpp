// Config resolution: presets, overrides and their errors, and hash stability.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/run_dir.h"
#include "common/text.h"

namespace osv {
namespace {

std::string usage_error(const std::string& preset, const std::vector<std::string>& overrides) {
  try {
    Config::resolve(preset, overrides);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, PresetsResolveToEveryKeyOfTheSchema) {
  for (const auto& p : preset_names()) {
    Config c = Config::resolve(p, {});
    EXPECT_EQ(c.preset(), p);
    for (const auto& k : config_schema()) EXPECT_NO_THROW(c.at(k.path)) << p << " " << k.path;
  }
}

TEST(Config, PresetsDifferAndKeepSpecDefaults) {
  Config tiny = Config::resolve("tiny", {});
  Config small = Config::resolve("small", {});
  Config svd = Config::resolve("svd", {});
  EXPECT_NE(tiny.hash(), small.hash());
  EXPECT_NE(small.hash(), svd.hash());
  EXPECT_EQ(svd.get<long long>("data.frames"), 14);
  EXPECT_EQ(svd.get<std::string>("device"), "cuda");
  // SPEC defaults untouched by presets.
  EXPECT_DOUBLE_EQ(small.get<double>("train.huber_c"), 0.001);
  EXPECT_DOUBLE_EQ(svd.get<double>("osv.lambda_lgp"), 0.1);
  EXPECT_EQ(svd.get<long long>("osv.solver_steps"), 5);
  EXPECT_DOUBLE_EQ(svd.get<double>("edm.sigma_max"), 700.0);
  EXPECT_EQ(svd.get<long long>("disc.upsample_r"), 4);
}

// The embedded default compares the distilled methods at one training budget: as many student
// optimiser steps (OSV: stage 1 + stage 2) at one batch (train.batch, which every method reads).
TEST(Config, SmallPresetTrainsEveryDistilledMethodTheSameBudget) {
  Config small = Config::resolve("small", {});
  const auto osv = small.get<long long>("osv.stage1_iters") + small.get<long long>("osv.stage2_iters");
  EXPECT_EQ(small.get<long long>("animatelcm.iters"), osv);
  EXPECT_EQ(small.get<long long>("sfv.iters"), osv);
  EXPECT_EQ(osv, 600);
}

TEST(Config, OverridesParseEveryType) {
  Config c = Config::resolve("tiny", {"sample.steps=8", "osv.lr=1e-5", "sample.cfg=false", "fvd.preprocess=center",
                                      "disc.taps=1,2,3", "osv.cfg_wmin_choices=1,1.5",
                                      "osv.extra_trainable=temporal,conv_out"});
  EXPECT_EQ(c.get<long long>("sample.steps"), 8);
  EXPECT_DOUBLE_EQ(c.get<double>("osv.lr"), 1e-5);
  EXPECT_FALSE(c.get<bool>("sample.cfg"));
  EXPECT_EQ(c.get<std::string>("fvd.preprocess"), "center");
  EXPECT_EQ(c.get<std::vector<int>>("disc.taps"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(c.get<std::vector<double>>("osv.cfg_wmin_choices"), (std::vector<double>{1.0, 1.5}));
  EXPECT_EQ(c.get<std::vector<std::string>>("osv.extra_trainable"),
            (std::vector<std::string>{"temporal", "conv_out"}));
}

TEST(Config, UniqueSuffixResolvesAndLaterOverridesWin) {
  Config c = Config::resolve("tiny", {"steps=3", "sample.steps=5"});
  EXPECT_EQ(c.get<long long>("sample.steps"), 5);
  EXPECT_EQ(resolve_key("steps"), "sample.steps");
  EXPECT_EQ(resolve_key("lora_rank"), "osv.lora_rank");
}

TEST(Config, BadOverridesNameTheKeyAndTheExpectedType) {
  EXPECT_EQ(usage_error("tiny", {"steps=abc"}), "config key 'sample.steps': expected integer, got 'abc'");
  EXPECT_NE(usage_error("tiny", {"sample.steps=2.5"}).find("expected integer"), std::string::npos);
  EXPECT_NE(usage_error("tiny", {"osv.lr=fast"}).find("'osv.lr': expected number"), std::string::npos);
  EXPECT_NE(usage_error("tiny", {"sample.cfg=maybe"}).find("'sample.cfg': expected boolean"), std::string::npos);
  EXPECT_NE(usage_error("tiny", {"disc.taps=1,x"}).find("'disc.taps': expected comma-separated list of integers"),
            std::string::npos);
  const auto choice = usage_error("tiny", {"fvd.preprocess=tff"});
  EXPECT_NE(choice.find("expected one of tf, styleganv, center"), std::string::npos) << choice;
  EXPECT_NE(choice.find("did you mean 'tf'"), std::string::npos) << choice;
  EXPECT_NE(usage_error("tiny", {"sample.steps=0"}).find("must be >= 1"), std::string::npos);
  EXPECT_NE(usage_error("tiny", {"osv.ema=1.5"}).find("must be <= 1"), std::string::npos);
  // Found by the config fuzzer (tests/fuzz/corpus/config/crash-non-utf8-string-value): a string value
  // that is not UTF-8 was accepted and made hash() throw a JSON type error later.
  EXPECT_EQ(usage_error("tiny", {"method=om\"\xba \""}),
            "config key 'method': the value is not valid UTF-8: 'om\"\\xba \"'");
  EXPECT_NE(usage_error("tiny", {"disc.kind=a\xff"}).find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(usage_error("tiny", {"osv.extra_trainable=a,\xfe"}).find("not valid UTF-8"), std::string::npos);
}

TEST(Config, UnknownAndAmbiguousKeys) {
  const auto unknown = usage_error("tiny", {"stepz=3"});
  EXPECT_NE(unknown.find("unknown config key 'stepz'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("sample.steps"), std::string::npos) << unknown;
  const auto ambiguous = usage_error("tiny", {"lr=1"});
  EXPECT_NE(ambiguous.find("ambiguous"), std::string::npos);
  EXPECT_NE(ambiguous.find("osv.lr"), std::string::npos);
  EXPECT_NE(usage_error("tiny", {"novalue"}).find("not of the form key=value"), std::string::npos);
  EXPECT_NE(usage_error("huge", {}).find("unknown preset 'huge'"), std::string::npos);
}

TEST(Config, HashIsStableAcrossRunsOrderAndSpelling) {
  const Config a = Config::resolve("small", {"sample.steps=8", "osv.lr=0.00001"});
  const Config b = Config::resolve("small", {"osv.lr=1e-5", "steps=8"});
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.hash().size(), 64u);
  // The resolved JSON written with every object's keys in reverse order hashes the same.
  std::function<nlohmann::ordered_json(const nlohmann::json&)> reverse = [&](const nlohmann::json& j) {
    if (!j.is_object()) return nlohmann::ordered_json(j);
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    std::vector<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
    for (auto k = keys.rbegin(); k != keys.rend(); ++k) o[*k] = reverse(j.at(*k));
    return o;
  };
  const std::string reversed_text = reverse(a.json()).dump();
  ASSERT_NE(reversed_text, a.json().dump());
  EXPECT_EQ(Config::from_json(nlohmann::json::parse(reversed_text)).hash(), a.hash());
  EXPECT_EQ(Config::from_json(nlohmann::json::parse(a.json().dump())).hash(), a.hash());
}

TEST(Config, HashIsPinnedToTheCanonicalForm) {
  // The hash is SHA-256 of a prefix plus the canonical JSON; pin that definition so a
  // change to it (which would orphan every run directory) is a deliberate one.
  const Config c = Config::resolve("tiny", {});
  EXPECT_EQ(c.canonical().front(), '{');
  EXPECT_EQ(c.canonical().find(' '), std::string::npos);
  EXPECT_LT(c.canonical().find("\"data\""), c.canonical().find("\"sample\""));
  EXPECT_EQ(c.canonical().find("\"run\""), std::string::npos);  // run.* is not hashed
}

TEST(Config, ResultChangingKeysChangeTheHashOthersDoNot) {
  const Config base = Config::resolve("small", {});
  EXPECT_NE(Config::resolve("small", {"sample.steps=2"}).hash(), base.hash());
  EXPECT_NE(Config::resolve("small", {"fvd.cov_normaliser=N-1"}).hash(), base.hash());
  EXPECT_EQ(Config::resolve("small", {"run.root=/elsewhere", "run.threads=1", "device=cuda"}).hash(), base.hash());
}

TEST(Config, FileAppliesBetweenPresetAndOverrides) {
  const auto dir = std::filesystem::temp_directory_path() / "osvbench_test_config_file";
  std::filesystem::create_directories(dir);
  atomic_write(dir / "c.json", R"({"sample": {"steps": 6, "sampler": "tts"}, "osv.lora_rank": 8})");
  Config c = Config::resolve("tiny", {"sample.steps=7"}, dir / "c.json");
  EXPECT_EQ(c.get<long long>("sample.steps"), 7);
  EXPECT_EQ(c.get<std::string>("sample.sampler"), "tts");
  EXPECT_EQ(c.get<long long>("osv.lora_rank"), 8);
  atomic_write(dir / "bad.json", R"({"sample": {"stepz": 6}})");
  EXPECT_THROW(Config::resolve("tiny", {}, dir / "bad.json"), UsageError);
  atomic_write(dir / "broken.json", R"({"sample": )");
  EXPECT_THROW(Config::resolve("tiny", {}, dir / "broken.json"), UsageError);
  std::filesystem::remove_all(dir);
}

TEST(RunDir, IsKeyedByTheConfigHashAndReopens) {
  const auto root = std::filesystem::temp_directory_path() / "osvbench_test_rundir";
  std::filesystem::remove_all(root);
  Config c = Config::resolve("tiny", {"run.root=" + root.string(), "method=osv"});
  RunDir r1 = RunDir::open(c);
  EXPECT_FALSE(r1.existed());
  EXPECT_EQ(r1.path().filename().string(), "osv-" + c.short_hash());
  EXPECT_TRUE(std::filesystem::exists(r1.file("config.json")));
  RunDir r2 = RunDir::open(c);
  EXPECT_TRUE(r2.existed());
  EXPECT_EQ(r1.path(), r2.path());
  // A config.json that no longer matches its directory name is reported, not overwritten.
  Config other = Config::resolve("tiny", {"run.root=" + root.string(), "method=osv", "sample.steps=9"});
  atomic_write(r1.file("config.json"), other.json().dump());
  EXPECT_THROW(RunDir::open(c), InputError);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace osv

// Hostile configs: integers out of a key's range and files nested deeper than any config are usage
// errors, not overflows (fvd.bootstrap was cast to int) or a stack exhausted by a parser.
TEST(ConfigHostile, RangesAndNestingAreBounded) {
  EXPECT_THROW(osv::Config::resolve("tiny", {"fvd.bootstrap=3000000000"}), osv::UsageError);
  EXPECT_THROW(osv::Config::resolve("tiny", {"sample.steps=4294967297"}), osv::UsageError);
  EXPECT_NO_THROW(osv::Config::resolve("tiny", {"fvd.bootstrap=1000000"}));
  const auto f = std::filesystem::temp_directory_path() / "osvbench_test_deep_config.json";
  osv::atomic_write(f, "{\"sample\": " + std::string(50000, '[') + std::string(50000, ']') + "}");
  try {
    osv::Config::resolve("tiny", {}, f);
    FAIL() << "a 50000-deep config file was accepted";
  } catch (const osv::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("nests deeper than 16"), std::string::npos) << e.what();
  }
  // Found by the config fuzzer (tests/fuzz/corpus/config/crash-json-number-overflow): a number too
  // large for a double escaped as a JSON out_of_range error instead of a usage error.
  osv::atomic_write(f, "{\"seed\": 1100000E000001630054845}");
  try {
    osv::Config::resolve("tiny", {}, f);
    FAIL() << "an overflowing number was accepted";
  } catch (const osv::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("is not valid JSON"), std::string::npos) << e.what();
  }
  std::filesystem::remove(f);
  EXPECT_EQ(osv::json_nesting_depth(R"({"a": ["[", {"b": 1}], "c": "]]]"})"), 3);
}
