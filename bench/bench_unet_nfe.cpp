// Per-NFE latency of the SVD UNet: one forward pass = one network evaluation.
//
//   bench_unet_nfe --folder DIR [--io FILE]              a diffusers unet/ folder (+ its inputs)
//   bench_unet_nfe --arch svd --frames 14 --height 72 --width 128 [--dtype bf16] [--device cuda]
//                                                        the full-size SVD UNet, random weights
// Prints one JSON line: {"median_ms":..,"min_ms":..,"iters":..,"threads":..,"device":..,"dtype":..}.
// bench/unet_nfe_vs_diffusers.py runs it next to diffusers on the same CPU.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "models/device.h"
#include "models/safetensors.h"
#include "models/unet_svd.h"

int main(int argc, char** argv) {
  CLI::App app{"Per-NFE latency of the SVD UNet"};
  std::string folder, io, arch, dtype_name = "fp32", device_name = "cpu";
  int frames = 14, height = 72, width = 128, iters = 20, warmup = 3, threads = 0, batch = 1;
  app.add_option("--folder", folder, "diffusers unet folder (config.json + weights)");
  app.add_option("--io", io, "safetensors with sample/timestep/encoder_hidden_states/added_time_ids");
  app.add_option("--arch", arch, "'svd': the full-size SVD UNet config with random weights");
  app.add_option("--frames", frames);
  app.add_option("--height", height, "latent height");
  app.add_option("--width", width, "latent width");
  app.add_option("--batch", batch);
  app.add_option("--dtype", dtype_name, "fp32, fp16 or bf16");
  app.add_option("--device", device_name, "cpu or cuda[:N]");
  app.add_option("--iters", iters);
  app.add_option("--warmup", warmup);
  app.add_option("--threads", threads, "intra-op threads (0 = torch default)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  const auto device = osv::parse_device(device_name);
  const auto dtype = osv::parse_dtype(dtype_name);

  osv::UNetSpatioTemporalConditionModel unet{nullptr};
  torch::Tensor sample, timestep, ehs, ids;
  if (arch == "svd") {
    osv::UNetSVDConfig c;  // defaults are stable-video-diffusion-img2vid(-xt)
    unet = osv::UNetSpatioTemporalConditionModel(c);
    sample = torch::randn({batch, frames, c.in_channels, height, width});
    timestep = torch::full({batch}, 0.25 * std::log(10.0));
    ehs = torch::randn({batch, 1, c.cross_attention_dim[0]});
    ids = torch::tensor({6.0f, 127.0f, 0.02f}).repeat({batch, 1});
  } else if (!folder.empty()) {
    unet = osv::load_unet_svd(folder);
    if (io.empty()) {
      std::fprintf(stderr, "--folder needs --io with the inputs\n");
      return 2;
    }
    auto f = osv::SafetensorsFile::open(io);
    sample = f.tensor("sample");
    timestep = f.tensor("timestep");
    ehs = f.tensor("encoder_hidden_states");
    ids = f.tensor("added_time_ids");
  } else {
    std::fprintf(stderr, "give --folder DIR --io FILE or --arch svd\n");
    return 2;
  }
  unet->to(device, dtype);
  unet->eval();
  sample = sample.to(device, dtype);
  ehs = ehs.to(device, dtype);
  timestep = timestep.to(device);
  ids = ids.to(device);

  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int i = 0; i < warmup; ++i) unet->forward(sample, timestep, ehs, ids);
  sync();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    unet->forward(sample, timestep, ehs, ids);
    sync();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  nlohmann::json out = {{"median_ms", ms[ms.size() / 2]}, {"min_ms", ms.front()}, {"iters", iters},
                        {"threads", at::get_num_threads()}, {"device", device.str()}, {"dtype", dtype_name},
                        {"sample_shape", sample.sizes().vec()}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
