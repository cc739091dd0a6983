// The embedded teacher's speed on this machine: sampling clips/s at k = 1, 2, 8, 25 Euler steps
// with CFG (2 NFE per step; VAE decode included) and training steps/s of the EDM objective —
// the models of the given preset's embedded config with seeded random weights (speed does not
// depend on the weights).
//
//   bench_teacher [--preset small] [--batch 8] [--train-steps 10] [--threads 0]
// Prints a table and one JSON line per measurement.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "methods/api/train_loop.h"
#include "methods/svd/edm.h"
#include "methods/svd/embedded.h"
#include "methods/svd/svd_pipeline.h"
#include "methods/teacher/teacher.h"

using namespace osv;

int main(int argc, char** argv) {
  CLI::App app{"embedded teacher: sampling clips/s and training it/s"};
  std::string preset = "small";
  int batch = 8, train_steps = 10, threads = 0;
  app.add_option("--preset", preset);
  app.add_option("--batch", batch, "clips per sampling batch");
  app.add_option("--train-steps", train_steps);
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  const Config c = Config::resolve(preset, {});
  const auto e = embedded_svd_config(c);
  torch::manual_seed(0);
  SvdFolder f;
  f.unet = UNetSpatioTemporalConditionModel(e.unet);
  f.vae = AutoencoderKLTemporalDecoder(e.vae);
  f.image_encoder = ClipVisionModelWithProjection(e.image_encoder);
  f.unet->eval();
  f.vae->eval();
  f.image_encoder->eval();
  auto pipe = std::make_shared<SvdPipeline>(f, 1.0, ConditioningOptions{});
  TeacherMethod teacher(pipe, c.get<double>("edm.sigma_min"), c.get<double>("edm.sigma_max"));
  const int64_t T = c.get<long long>("data.frames"), H = c.get<long long>("data.height"),
                W = c.get<long long>("data.width");
  const int64_t factor = int64_t{1} << (e.vae.block_out_channels.size() - 1);
  auto frames = torch::randint(0, 256, {batch, 3, H, W}).to(torch::kUInt8);
  auto cond = pipe->encode_conditioning(frames);
  auto noise = torch::randn({batch, T, e.unet.out_channels, H / factor, W / factor});
  std::printf("embedded teacher (%s preset), %d threads, batch %d, %lldx%lldx%lld clips\n", preset.c_str(),
              at::get_num_threads(), batch, static_cast<long long>(T), static_cast<long long>(H),
              static_cast<long long>(W));
  std::printf("%-10s %6s %12s %10s\n", "steps", "NFE", "s/batch", "clips/s");
  for (int k : {1, 2, 8, 25}) {
    SampleOptions o;
    o.steps = k;
    o.cfg = true;
    o.cfg_min = 1.0f;
    o.cfg_max = 3.0f;
    teacher.sample(cond, noise, o);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    auto r = teacher.sample(cond, noise, o);
    pipe->decode(r.latents);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-10d %6lld %12.3f %10.2f\n", k, static_cast<long long>(r.nfe), s, batch / s);
    std::printf("%s\n", nlohmann::json{{"bench", "teacher_sample"}, {"steps", k}, {"nfe", r.nfe},
                                       {"clips_per_s", batch / s}, {"threads", at::get_num_threads()}}
                            .dump()
                            .c_str());
  }
  const int64_t N = 32;
  auto task = make_teacher_task(c, f.unet, f.vae, torch::randn({N, T, e.unet.out_channels, H / factor, W / factor}),
                                torch::randn({N, 1, e.image_encoder.projection_dim}),
                                torch::randint(0, 256, {N, 3, H, W}).to(torch::kUInt8));
  task->step(0);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1; i <= train_steps; ++i) task->step(i);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("training: %.2f it/s (batch %lld clips)\n", train_steps / s,
              static_cast<long long>(c.get<long long>("train.teacher_batch")));
  std::printf("%s\n", nlohmann::json{{"bench", "teacher_train"}, {"it_per_s", train_steps / s},
                                     {"batch", c.get<long long>("train.teacher_batch")},
                                     {"threads", at::get_num_threads()}}
                          .dump()
                          .c_str());
  return 0;
}
