// Clip latency through the product's own sampling path (SvdPipeline, the methods' samplers, the
// `precision` autocast of every network pass), random weights:
//   vae_decode      the temporal VAE decoding T frames (chunks of 14, as diffusers' decode_chunk_size)
//   osv_1step_clip  one clip end to end as a 1-step OSV student makes it: encode the first frame (VAE +
//                   CLIP), one UNet evaluation, decode
//   teacher_25_cfg  the teacher's 25-step Euler clip with CFG (50 UNet evaluations) and its decode
//
//   bench_pipeline --arch svd --device cuda --precision bf16 [--frames 14 --height 576 --width 1024]
//   bench_pipeline --arch tiny                     the tiny preset's networks (a CPU smoke run)
// Prints one JSON line per measurement (median of --iters after a warm-up) with, at --arch svd, the
// ratio to the peer figure (diffusers eager bf16 on one H100: VAE decode 1,318 ms, 1-step clip
// 1,560 ms, 25-step CFG clip 11 s) — comparable only when this ran on an H100 too.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "methods/distill/consistency.h"
#include "methods/distill/student_method.h"
#include "methods/svd/embedded.h"
#include "methods/svd/svd_pipeline.h"
#include "methods/teacher/teacher.h"
#include "models/device.h"

using namespace osv;

int main(int argc, char** argv) {
  CLI::App app{"clip latency through osvbench's sampling path"};
  std::string arch = "tiny", device_name = "cpu", precision_name = "fp32";
  int frames = 14, height = 576, width = 1024, iters = 3, threads = 0;
  app.add_option("--arch", arch, "svd (SVD-xt's configs) or tiny (the tiny preset's embedded models)");
  app.add_option("--device", device_name, "cpu or cuda[:N]");
  app.add_option("--precision", precision_name, "fp32, bf16 or fp16 (the config key `precision`)");
  app.add_option("--frames", frames);
  app.add_option("--height", height, "pixels");
  app.add_option("--width", width, "pixels");
  app.add_option("--iters", iters);
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  const auto device = parse_device(device_name);
  const auto precision = parse_dtype(precision_name);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  SvdFolder f;
  int64_t factor = 8;
  if (arch == "svd") {
    f.unet = UNetSpatioTemporalConditionModel(UNetSVDConfig{});
    f.vae = AutoencoderKLTemporalDecoder(VaeTemporalConfig{});
    f.image_encoder = ClipVisionModelWithProjection(ClipVisionConfig{});
  } else {
    const auto e = embedded_svd_config(Config::resolve("tiny", {}));
    f.unet = UNetSpatioTemporalConditionModel(e.unet);
    f.vae = AutoencoderKLTemporalDecoder(e.vae);
    f.image_encoder = ClipVisionModelWithProjection(e.image_encoder);
    factor = int64_t{1} << (e.vae.block_out_channels.size() - 1);
    if (height == 576 && width == 1024) height = width = 32;
    if (frames == 14) frames = 4;
  }
  for (torch::nn::Module* m : std::vector<torch::nn::Module*>{f.unet.get(), f.vae.get(), f.image_encoder.get()}) {
    m->to(device);
    m->eval();
  }
  auto pipe = std::make_shared<SvdPipeline>(f, 0.18215, ConditioningOptions{}, precision);
  const int64_t C = f.unet->config().out_channels;
  auto first = torch::randint(0, 256, {1, 3, height, width}).to(torch::kUInt8);
  auto noise = torch::randn({1, frames, C, height / factor, width / factor}).to(device);
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  const auto time_ms = [&](const std::function<void()>& fn) {
    fn();  // warm-up (kernel selection, allocator)
    sync();
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      sync();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  const auto report = [&](const std::string& what, double ms, double peer_ms) {
    nlohmann::json j{{"bench", what},         {"median_ms", ms},       {"iters", iters},
                     {"arch", arch},          {"device", device.str()}, {"precision", precision_name},
                     {"frames", frames},      {"height", height},      {"width", width},
                     {"threads", at::get_num_threads()}};
    if (arch == "svd") {
      j["peer_ms"] = peer_ms;
      j["peer"] = "diffusers eager bf16, one H100";
      j["speedup_vs_peer"] = peer_ms / ms;
    }
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  };

  report("vae_decode", time_ms([&] { pipe->decode(noise); }), 1318.0);
  ConsistencyStudentSpec s;
  s.name = "osv";
  s.student = f.unet;
  s.sigmas = [](int64_t k) { return consistency_sigmas(40, k, 0.002, 700.0); };
  s.precision = precision;
  auto student = make_consistency_student(std::move(s));
  report("osv_1step_clip", time_ms([&] {
           auto cond = pipe->encode_conditioning(first);
           SampleOptions o;
           o.sampler = "consistency";
           o.steps = 1;
           o.cfg = false;
           pipe->decode(student->sample(cond, noise, o).latents);
         }),
         1560.0);
  TeacherMethod teacher(pipe, 0.002, 700.0, precision);
  report("teacher_25_cfg", time_ms([&] {
           auto cond = pipe->encode_conditioning(first);
           SampleOptions o;
           o.sampler = "euler";
           o.steps = 25;
           o.cfg = true;
           o.cfg_min = 1.0f;
           o.cfg_max = 3.0f;
           pipe->decode(teacher.sample(cond, noise, o).latents);
         }),
         11000.0);
  return 0;
}
