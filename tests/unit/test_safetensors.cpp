// safetensors reading and writing, and every malformed-file error naming file and tensor.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("osvbench_test_st_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a file from a raw header and data buffer.
  fs::path raw(const std::string& name, const std::string& header, const std::string& data, long long claimed = -1) {
    std::string bytes(8, '\0');
    const std::uint64_t n = claimed >= 0 ? static_cast<std::uint64_t>(claimed) : header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    atomic_write(dir_ / name, bytes + header + data);
    return dir_ / name;
  }
  std::string error_of(const fs::path& p) {
    try {
      SafetensorsFile::open(p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(Safetensors, RoundTripsEveryDtype) {
  std::vector<std::pair<std::string, torch::Tensor>> ts = {
      {"f32", torch::randn({2, 3})},
      {"f16", torch::randn({4}).to(torch::kHalf)},
      {"bf16", torch::randn({3, 1}).to(torch::kBFloat16)},
      {"f64", torch::randn({2}, torch::kFloat64)},
      {"i64", torch::arange(5, torch::kInt64)},
      {"i32", torch::arange(6, torch::kInt32).reshape({2, 3})},
      {"u8", torch::arange(7, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::empty({0, 4})},
      {"strided", torch::randn({4, 4}).t()},
  };
  save_safetensors(dir_ / "a.safetensors", ts, {{"format", "pt"}});
  auto f = SafetensorsFile::open(dir_ / "a.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.entries().size(), ts.size());
  for (const auto& [name, t] : ts) {
    auto r = f.tensor(name);
    EXPECT_EQ(r.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(r, t)) << name;
  }
}

TEST_F(Safetensors, TruncatedFileNamesFileAndTensor) {
  save_safetensors(dir_ / "full.safetensors", {{"w", torch::randn({16})}});
  const std::string bytes = read_file(dir_ / "full.safetensors");
  atomic_write(dir_ / "cut.safetensors", bytes.substr(0, bytes.size() - 10));
  const auto e = error_of(dir_ / "cut.safetensors");
  EXPECT_NE(e.find("cut.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("tensor 'w'"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
  atomic_write(dir_ / "tiny.safetensors", "abc");
  EXPECT_NE(error_of(dir_ / "tiny.safetensors").find("truncated"), std::string::npos);
}

TEST_F(Safetensors, HeaderClaimingMoreBytesThanExist) {
  const auto p = raw("claim.safetensors", "{}", "", 4096);
  const auto e = error_of(p);
  EXPECT_NE(e.find("claim.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("header claims 4096 bytes but only 2 follow"), std::string::npos) << e;
  EXPECT_NE(error_of(raw("huge.safetensors", "{}", "", 1LL << 40)).find("exceeds"), std::string::npos);
}

TEST_F(Safetensors, MalformedEntries) {
  const std::string data(16, '\0');
  EXPECT_NE(error_of(raw("a", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", data))
                .find("tensor 'x': 12 bytes for 2 F32 of shape [2] (needs 8)"),
            std::string::npos);
  EXPECT_NE(error_of(raw("b", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,40]}})", data))
                .find("past the 16 data bytes"),
            std::string::npos);
  EXPECT_NE(error_of(raw("c", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                 "y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         data))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(error_of(raw("d", R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", data))
                .find("unsupported dtype 'Q4'"),
            std::string::npos);
  EXPECT_NE(error_of(raw("e", R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data))
                .find("negative"),
            std::string::npos);
  EXPECT_NE(error_of(raw("f", R"({"x":)", data)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(raw("g", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data))
                .find("backwards"),
            std::string::npos);
  EXPECT_NE(error_of(dir_ / "missing.safetensors").find("cannot open"), std::string::npos);
}

// Hostile headers: an overlap hidden behind an empty tensor, deep nesting, bool bytes other than 0/1.
TEST_F(Safetensors, HostileHeadersAreRejected) {
  const std::string data(16, '\0');
  // a = [0, 12), e = [4, 4) (empty), b = [8, 16): sorted, e sits between a and b and used to hide
  // the overlap of a and b.
  EXPECT_NE(error_of(raw("h", R"({"a":{"dtype":"U8","shape":[12],"data_offsets":[0,12]},
                                 "e":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},
                                 "b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}})",
                         data))
                .find("tensors 'a' and 'b' overlap"),
            std::string::npos);
  // Empty tensors anywhere are fine when nothing overlaps.
  EXPECT_EQ(error_of(raw("i", R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},
                                 "e":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},
                                 "b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}})",
                         data)),
            "");
  EXPECT_NE(error_of(raw("j", "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}", data))
                .find("nests deeper than 32"),
            std::string::npos);
  std::string bools(16, '\0');
  bools[3] = 2;
  const auto f = raw("k", R"({"x":{"dtype":"BOOL","shape":[16],"data_offsets":[0,16]}})", bools);
  try {
    SafetensorsFile::open(f).tensor("x");
    FAIL() << "a bool byte of 2 loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("BOOL byte 3 is 2"), std::string::npos) << e.what();
  }
}

struct TwoLayers : torch::nn::Module {
  TwoLayers(int in, int out) {
    conv_in = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3)));
    proj = register_module("proj", torch::nn::Linear(out, 4));
  }
  torch::nn::Conv2d conv_in{nullptr};
  torch::nn::Linear proj{nullptr};
};

TEST_F(Safetensors, LoadsModulesAndNamesShapeMismatches) {
  TwoLayers a(3, 8), b(3, 8), wrong(4, 8);
  save_weights(a, dir_ / "m.safetensors");
  auto ck = SafetensorsCheckpoint::open(dir_ / "m.safetensors");
  EXPECT_EQ(load_weights(b, ck).loaded, 4u);
  EXPECT_TRUE(torch::equal(a.conv_in->weight, b.conv_in->weight));
  try {
    load_weights(wrong, ck);
    FAIL() << "no exception";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), (ck.path().string() +
                            ": tensor 'conv_in.weight' has shape [8, 3, 3, 3] in the checkpoint but the model "
                            "expects [8, 4, 3, 3]")
                               .c_str());
  }
  save_safetensors(dir_ / "partial.safetensors", {{"conv_in.weight", a.conv_in->weight}});
  EXPECT_THROW(load_weights(b, SafetensorsCheckpoint::open(dir_ / "partial.safetensors")), InputError);
  auto extra = state_dict(a);
  extra.emplace_back("stray", torch::zeros({1}));
  save_safetensors(dir_ / "extra.safetensors", extra);
  EXPECT_THROW(load_weights(b, SafetensorsCheckpoint::open(dir_ / "extra.safetensors")), InputError);
  LoadOptions lenient;
  lenient.allow_unexpected = true;
  EXPECT_EQ(load_weights(b, SafetensorsCheckpoint::open(dir_ / "extra.safetensors"), lenient).unexpected,
            std::vector<std::string>{"stray"});
}

TEST_F(Safetensors, ShardedIndexAndFolders) {
  TwoLayers a(3, 8), b(3, 8);
  auto sd = state_dict(a);
  save_safetensors(dir_ / "model-00001-of-00002.safetensors", {sd[0], sd[1]});
  save_safetensors(dir_ / "model-00002-of-00002.safetensors", {sd[2], sd[3]});
  nlohmann::json idx = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (int i = 0; i < 4; ++i)
    idx["weight_map"][sd[i].first] = i < 2 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  atomic_write(dir_ / "model.safetensors.index.json", idx.dump());
  auto ck = SafetensorsCheckpoint::open(dir_);  // the folder finds the index
  EXPECT_EQ(ck.names().size(), 4u);
  load_weights(b, ck);
  EXPECT_TRUE(torch::equal(a.proj->weight, b.proj->weight));
  idx["weight_map"]["ghost"] = "model-00001-of-00002.safetensors";
  atomic_write(dir_ / "model.safetensors.index.json", idx.dump());
  EXPECT_THROW(SafetensorsCheckpoint::open(dir_ / "model.safetensors.index.json"), InputError);
}

}  // namespace
}  // namespace osv
