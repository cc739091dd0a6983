// The shared training loop: resuming after an interruption continues exactly as an
// uninterrupted run (same logged losses, same weights), non-finite steps are skipped and
// counted, a torn metrics line is dropped on resume.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "common/atomic_file.h"
#include "methods/api/op_profile.h"
#include "methods/api/train_loop.h"
#include "models/safetensors.h"

namespace osv {
namespace {
namespace fs = std::filesystem;

// Linear regression with Adam on random batches drawn from torch's default generator.
struct ToyTask : TrainTask {
  torch::nn::Linear net{4, 1};
  torch::optim::Adam opt{net->parameters(), torch::optim::AdamOptions(0.05)};
  int64_t nan_at = -1;
  int64_t disc_nan_every = 0;  // > 0: every n-th step reports a skipped discriminator update
  ToyTask() {
    torch::manual_seed(42);
    net = torch::nn::Linear(4, 1);
    opt = torch::optim::Adam(net->parameters(), torch::optim::AdamOptions(0.05));
  }
  StepOutput step(int64_t step) override {
    auto x = torch::randn({8, 4});
    auto y = x.sum(1, true) * 0.5 + 0.1 * torch::randn({8, 1});
    auto loss = (net->forward(x) - y).pow(2).mean();
    if (step == nan_at) loss = loss * std::numeric_limits<float>::quiet_NaN();
    StepOutput out;
    out.disc_skipped = disc_nan_every > 0 && step % disc_nan_every == 0;
    out.metrics["loss"] = loss.item<double>();
    opt.zero_grad();
    if (!all_finite(loss)) {
      out.finite = false;
      return out;
    }
    loss.backward();
    out.metrics["grad_norm"] = grad_norm(net->parameters());
    opt.step();
    return out;
  }
  void save(CheckpointWriter& a) override {
    a.module("net.", *net);
    a.optimizer("opt", opt);
  }
  void load(const CheckpointReader& a) override {
    a.module("net.", *net);
    a.optimizer("opt", opt);
  }
};

std::vector<double> losses(const fs::path& dir) {
  std::vector<double> v;
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    v.push_back(j["loss"].is_null() ? std::nan("") : j["loss"].get<double>());
  }
  return v;
}

TrainLoopOptions opts(const fs::path& dir) {
  TrainLoopOptions o;
  o.dir = dir;
  o.steps = 20;
  o.checkpoint_every = 3;
  o.seed = 5;
  o.progress_interval_s = 1000;
  return o;
}

struct TrainLoop : ::testing::Test {
  fs::path root = fs::temp_directory_path() / ("osv_train_loop_" + std::to_string(::getpid()));
  void SetUp() override { fs::remove_all(root); }
  void TearDown() override { fs::remove_all(root); }
};

TEST_F(TrainLoop, ResumeContinuesTheSameCurve) {
  ToyTask a;
  const auto sa = run_training(a, opts(root / "a"));
  EXPECT_TRUE(sa.finished);
  EXPECT_EQ(sa.steps_done, 20);

  // Interrupted after 7 steps: the checkpoint holds step 6 (every 3), step 6 is logged again.
  {
    ToyTask b;
    auto o = opts(root / "b");
    o.stop_after = 7;
    const auto s = run_training(b, o);
    EXPECT_FALSE(s.finished);
    EXPECT_EQ(losses(root / "b").size(), 7u);
  }
  ToyTask c;  // a fresh process would start from different weights: the checkpoint must win
  torch::manual_seed(999);
  c.net = torch::nn::Linear(4, 1);
  c.opt = torch::optim::Adam(c.net->parameters(), torch::optim::AdamOptions(0.05));
  const auto sc = run_training(c, opts(root / "b"));
  EXPECT_EQ(sc.resumed_from, 6);
  EXPECT_EQ(sc.steps_done, 14);
  const auto la = losses(root / "a"), lb = losses(root / "b");
  ASSERT_EQ(la.size(), 20u);
  ASSERT_EQ(lb.size(), 20u);
  for (std::size_t i = 0; i < la.size(); ++i) EXPECT_DOUBLE_EQ(la[i], lb[i]) << "step " << i;
  EXPECT_TRUE(torch::equal(a.net->weight, c.net->weight));
  EXPECT_TRUE(torch::equal(a.net->bias, c.net->bias));
  // The loss fell: the toy problem is learnable, so equality above is not of two flat curves.
  EXPECT_LT(la.back(), la.front());
}

// A task whose step is a convolution, a group norm and a matmul (and its backward): the profile of
// its steps finds each kind of work, accounts for the window's wall time, and covers exactly the
// steps asked for (the first of the call is a warm-up and is not profiled).
struct ConvTask : ToyTask {
  torch::nn::Conv2d conv{torch::nn::Conv2dOptions(8, 8, 3).padding(1)};
  torch::nn::GroupNorm norm{torch::nn::GroupNormOptions(4, 8)};
  torch::Tensor w = torch::randn({64, 64}, torch::requires_grad());
  StepOutput step(int64_t) override {
    auto x = torch::randn({4, 8, 32, 32});
    auto h = norm->forward(conv->forward(x)).flatten(2);  // [4, 8, 1024]
    auto y = torch::matmul(h.reshape({-1, 64}), w);
    auto loss = y.pow(2).mean();
    loss.backward();
    StepOutput out;
    out.metrics["loss"] = loss.item<double>();
    return out;
  }
};

TEST_F(TrainLoop, ProfileFindsTheKindsOfWorkOfTheProfiledSteps) {
  ConvTask t;
  auto o = opts(root / "prof");
  o.steps = 6;
  o.profile_steps = 3;
  run_training(t, o);
  const auto j = nlohmann::json::parse(read_file(root / "prof" / "profile.json"));
  EXPECT_EQ(j["steps"], 3);
  for (const char* k : {"convolution", "normalization", "matmul/attention"})
    EXPECT_GT(j["kinds"].value(k, 0.0), 0.0) << k << " " << j["kinds"];
  double self = 0;
  for (const auto& op : j["ops"]) self += op["self_s"].get<double>();
  // Self times partition the time inside top-level operators, which lies inside the window.
  EXPECT_NEAR(self, j["in_ops_s"].get<double>(), 1e-3 * j["in_ops_s"].get<double>() + 1e-6);
  EXPECT_LE(j["in_ops_s"].get<double>(), j["wall_s"].get<double>());
  // 3 profiled steps, each one forward convolution: the call count is per window, not per run.
  for (const auto& op : j["ops"])
    if (op["name"] == "aten::convolution") EXPECT_EQ(op["calls"], 3) << op;
  EXPECT_NE(read_file(root / "prof" / "profile.md").find("| convolution |"), std::string::npos);
  EXPECT_EQ(op_kind("aten::native_group_norm_backward"), "normalization");
  EXPECT_EQ(op_kind("aten::mkldnn_convolution"), "convolution");
  EXPECT_EQ(op_kind("aten::addmm"), "matmul/attention");
  EXPECT_EQ(op_kind("aten::copy_"), "copy/layout");
  EXPECT_EQ(op_kind("aten::silu"), "elementwise");
}

TEST_F(TrainLoop, NonFiniteStepsAreSkippedAndCounted) {
  ToyTask t;
  t.nan_at = 4;
  const auto s = run_training(t, opts(root / "nan"));
  EXPECT_EQ(s.skipped_nonfinite, 1);
  EXPECT_TRUE(all_finite(t.net->weight));
  std::ifstream in(root / "nan" / "metrics.jsonl");
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["step"].get<int64_t>() == 4) EXPECT_TRUE(j["loss"].is_null());
    if (j["step"].get<int64_t>() >= 4) EXPECT_EQ(j["skipped"].get<int64_t>(), 1);
    ++n;
  }
  EXPECT_EQ(n, 20);
}

TEST_F(TrainLoop, TornMetricsLineIsDroppedOnResume) {
  {
    ToyTask t;
    auto o = opts(root / "torn");
    o.stop_after = 6;
    run_training(t, o);
  }
  std::ofstream(root / "torn" / "metrics.jsonl", std::ios::app) << "{\"step\": 6, \"lo";  // kill -9 mid-write
  ToyTask t;
  const auto s = run_training(t, opts(root / "torn"));
  EXPECT_EQ(s.resumed_from, 6);
  EXPECT_EQ(losses(root / "torn").size(), 20u);
}

TEST_F(TrainLoop, DamagedCheckpointIsAnInputError) {
  fs::create_directories(root / "bad");
  std::ofstream(root / "bad" / "checkpoint.safetensors") << "not a checkpoint";
  ToyTask t;
  try {
    run_training(t, opts(root / "bad"));
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("damaged checkpoint"), std::string::npos) << e.what();
  }
}

// The checkpoint is a safetensors file (no pickle: a shared runs/ folder cannot run code when
// loaded): its tensors are the task's state, the loop's counters and the optimiser's scalars sit in
// its metadata.
TEST_F(TrainLoop, CheckpointIsSafetensorsWithStateInMetadata) {
  ToyTask t;
  auto o = opts(root / "st");
  o.stop_after = 7;
  run_training(t, o);
  const auto f = SafetensorsFile::open(root / "st" / "checkpoint.safetensors");
  EXPECT_EQ(f.metadata().at("format"), kCheckpointFormat);
  const auto state = nlohmann::json::parse(f.metadata().at("osvbench.state"));
  EXPECT_EQ(state.at("loop.step").get<int64_t>(), 6);
  EXPECT_EQ(state.at("optimizer.opt").at("type"), "Adam");
  EXPECT_EQ(state.at("optimizer.opt").at("groups").at(0).at("steps").at(0).get<int64_t>(), 6);
  EXPECT_TRUE(f.contains("net.weight"));
  EXPECT_TRUE(f.contains("opt.g0.p0.exp_avg"));
  EXPECT_TRUE(f.contains("opt.g0.p1.exp_avg_sq"));
  EXPECT_FALSE(fs::exists(root / "st" / "checkpoint.pt"));
}

// A checkpoint.pt of an older osvbench is a pickle-based archive: never loaded (a warning), the run
// starts at step 0 and the old file is gone after the first new checkpoint.
TEST_F(TrainLoop, OlderPickleCheckpointIsNotLoaded) {
  fs::create_directories(root / "old");
  {
    torch::serialize::OutputArchive a;
    a.write("loop.step", torch::tensor(int64_t{9}));
    a.save_to((root / "old" / "checkpoint.pt").string());
  }
  ToyTask t;
  auto o = opts(root / "old");
  o.stop_after = 4;
  const auto s = run_training(t, o);
  EXPECT_EQ(s.resumed_from, 0);
  EXPECT_FALSE(fs::exists(root / "old" / "checkpoint.pt"));
  EXPECT_TRUE(fs::exists(root / "old" / "checkpoint.safetensors"));
}

// A checkpoint written for another shape names the tensor and both shapes.
TEST_F(TrainLoop, WrongShapedCheckpointNamesTheTensorAndBothShapes) {
  {
    ToyTask t;
    auto o = opts(root / "shape");
    o.stop_after = 3;
    run_training(t, o);
  }
  ToyTask wide;
  wide.net = torch::nn::Linear(5, 1);
  wide.opt = torch::optim::Adam(wide.net->parameters(), torch::optim::AdamOptions(0.05));
  try {
    run_training(wide, opts(root / "shape"));
    FAIL() << "a [1, 4] weight was loaded into a [1, 5] one";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'net.weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 4]"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 5]"), std::string::npos) << m;
  }
}

// AdamW with amsgrad: every moment, the step counts and the learning rate come back exactly, and a
// restored optimiser takes the same next step as the original.
TEST(Checkpoint, AdamWStateRoundTripsExactly) {
  const auto file = fs::temp_directory_path() / ("osv_ckpt_adamw_" + std::to_string(::getpid()) + ".safetensors");
  torch::manual_seed(3);
  torch::nn::Linear a(3, 2), b(3, 2);
  torch::optim::AdamW oa(a->parameters(), torch::optim::AdamWOptions(0.01).amsgrad(true).weight_decay(0.1));
  torch::optim::AdamW ob(b->parameters(), torch::optim::AdamWOptions(0.5));
  auto step = [](torch::nn::Linear& m, torch::optim::AdamW& o, const torch::Tensor& x) {
    o.zero_grad();
    m->forward(x).pow(2).sum().backward();
    o.step();
  };
  for (int i = 0; i < 3; ++i) step(a, oa, torch::randn({4, 3}));
  static_cast<torch::optim::AdamWOptions&>(oa.param_groups()[0].options()).lr(0.02);  // a schedule moved it
  CheckpointWriter w;
  w.module("m.", *a);
  w.optimizer("o", oa);
  w.save(file);
  const auto r = CheckpointReader::open(file);
  r.module("m.", *b);
  r.optimizer("o", ob);
  const auto& ob_opts = static_cast<torch::optim::AdamWOptions&>(ob.param_groups()[0].options());
  EXPECT_EQ(ob_opts.lr(), 0.02);
  EXPECT_TRUE(ob_opts.amsgrad());
  EXPECT_EQ(ob_opts.weight_decay(), 0.1);
  const auto x = torch::randn({4, 3});
  step(a, oa, x);
  step(b, ob, x);
  EXPECT_TRUE(torch::equal(a->weight, b->weight));
  EXPECT_TRUE(torch::equal(a->bias, b->bias));
  fs::remove(file);
}

// A stored tensor of another dtype is refused, not converted (a bf16 run resumed as fp32 is
// another run).
TEST(Checkpoint, AnotherDtypeIsAnInputError) {
  const auto file = fs::temp_directory_path() / ("osv_ckpt_dtype_" + std::to_string(::getpid()) + ".safetensors");
  CheckpointWriter w;
  w.tensor("x", torch::ones({2}, torch::kFloat64));
  w.save(file);
  auto dst = torch::zeros({2}, torch::kFloat32);
  try {
    CheckpointReader::open(file).read_into("x", dst);
    FAIL() << "an F64 tensor was read into an F32 one";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("F64"), std::string::npos) << e.what();
  }
  fs::remove(file);
}

// Skipped discriminator updates are counted like skipped generator steps, and a run that skipped
// more than train.max_skipped_share of its updates is not finished (run_training throws).
TEST(TrainLoopSkips, TooManySkippedUpdatesDoNotFinishARun) {
  const auto dir = fs::temp_directory_path() / "osvbench_test_skipped_share";
  fs::remove_all(dir);
  TrainLoopOptions o;
  o.dir = dir;
  o.steps = 20;
  o.checkpoint_every = 5;
  {
    ToyTask t;
    t.disc_nan_every = 10;  // 2 of 20 = 10%: allowed
    const auto s = run_training(t, o);
    EXPECT_EQ(s.skipped_disc, 2);
    EXPECT_TRUE(s.finished);
  }
  fs::remove_all(dir);
  ToyTask t;
  t.disc_nan_every = 4;  // 5 of 20 = 25%
  try {
    run_training(t, o);
    FAIL() << "a run with 25% skipped discriminator updates finished";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("5 discriminator updates were skipped"), std::string::npos) << e.what();
  }
  // The count survives a resume (the checkpoint holds it): the rerun fails the same way.
  ToyTask again;
  EXPECT_THROW(run_training(again, o), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace osv

// A cached stage's key must cover every knob it read: a read that the key does not name fails
// before the stage is marked finished (else a changed value would reuse the old weights).
TEST(StageKeys, AnUndeclaredReadFails) {
  const osv::Config c = osv::Config::resolve("tiny", {});
  const nlohmann::json key = {{"sfv.lr_g", c.at("sfv.lr_g")}, {"data", "synthetic-abc"}};
  osv::ConfigReadLog reads;
  (void)c.get<double>("sfv.lr_g");
  (void)c.get<std::string>("run.root");  // not hashed: cannot change results
  (void)c.at("data.frames");             // covered by the data set's identity
  (void)c.hash();                        // hashing is not a read of every knob
  EXPECT_NO_THROW(osv::check_stage_reads("toy", reads, key));
  (void)c.get<double>("sfv.lr_d");
  try {
    osv::check_stage_reads("toy", reads, key);
    FAIL() << "an undeclared read passed";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("toy read config keys its cache key does not cover: sfv.lr_d"),
              std::string::npos)
        << e.what();
  }
  {
    osv::ConfigReadLog inner;  // logs nest: both see the read
    (void)c.get<long long>("sfv.iters");
    EXPECT_EQ(inner.keys(), std::set<std::string>{"sfv.iters"});
  }
  EXPECT_TRUE(reads.keys().count("sfv.iters"));
  // A key nested deeper in the stage key (OSV stage 2 holds stage 1's key) counts as declared.
  const nlohmann::json nested = {{"stage1_key", key}, {"sfv.lr_d", 1e-4}, {"sfv.iters", 1}};
  EXPECT_NO_THROW(osv::check_stage_reads("toy", reads, nested));
}
