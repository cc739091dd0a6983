// `osvbench info`: torch, CUDA devices, threads, numerics, FFmpeg and build options; or the config
// keys, methods, presets and FVD protocols.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common/build_info.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/text.h"
#include "datasets/video_backend.h"
#include "harness/options.h"
#include "methods/api/registry.h"
#include "metrics/fvd/protocol.h"
#include "dist/dist.h"
#include "models/device.h"
#include "models/numerics.h"
#include "reports/provenance.h"

namespace osv {
namespace {

using nlohmann::json;

struct InfoOptions {
  bool json = false, config_keys = false, methods = false, presets = false, protocols = false;
};

void print_info(const InfoOptions& o) {
  if (o.json) {
    std::cout << environment_info().dump(2) << "\n";
    return;
  }
  if (o.config_keys) {
    for (const auto& k : config_schema()) {
      std::string extra;
      if (!k.choices.empty()) extra = " {" + join(k.choices, ",") + "}";
      std::cout << fmt::format("{:<28} {:<10} {:<22} {}{}{}\n", k.path, std::string(key_type_name(k.type)).substr(0, 10),
                               k.default_value.is_string() ? k.default_value.get<std::string>() : k.default_value.dump(),
                               k.doc, extra, k.hashed ? "" : " (not hashed)");
    }
    return;
  }
  if (o.methods) {
    for (const auto& name : MethodRegistry::instance().names()) {
      const auto& m = MethodRegistry::instance().get(name);
      std::cout << fmt::format("{:<11} {}\n{:<11} samplers: {}; from {}\n", m.name, m.title, "", join(m.samplers, ", "),
                               m.paper);
    }
    return;
  }
  if (o.presets) {
    for (const auto& p : preset_names()) std::cout << fmt::format("{:<6} {}\n", p, preset_description(p));
    return;
  }
  if (o.protocols) {
    for (const auto& p : fvd_protocols())
      std::cout << fmt::format("{:<12} real {} fake {} frames {} ({}): {}\n", p.name,
                               p.num_real ? std::to_string(p.num_real) : "any", p.num_fake ? std::to_string(p.num_fake) : "any",
                               p.frames, p.frame_choice, p.description);
    return;
  }
  const json e = environment_info();
  const auto& b = build_info();
  std::cout << "osvbench " << version_string() << "\n";
  std::cout << fmt::format("{:<10} {} ({})\n", "torch", b.torch_headers, b.torch_mode);
  std::cout << fmt::format("{:<10} MKL {}, MKL-DNN {}, OpenMP {}\n", "backends", at::hasMKL() ? "yes" : "no",
                           at::hasMKLDNN() ? "yes" : "no", at::hasOpenMP() ? "yes" : "no");
  std::cout << fmt::format("{:<10} intra-op {}, inter-op {}, hardware {}\n", "threads",
                           e["threads"]["intra_op"].get<int>(), e["threads"]["inter_op"].get<int>(),
                           e["threads"]["hardware"].get<long>());
  const auto& n = e["numerics"];
  std::cout << fmt::format("{:<10} {}: CPU kernels {}, oneDNN max ISA {}, MKL CBWR {}{}\n", "numerics",
                           n["reproducible"].get<bool>() ? "reproducible" : "native (run.reproducible=false)",
                           n["cpu_capability"].get<std::string>(),
                           n["onednn_max_isa"].get<std::string>().empty() ? "native" : n["onednn_max_isa"].get<std::string>(),
                           n["mkl_cbwr"].get<std::string>().empty() ? "off" : n["mkl_cbwr"].get<std::string>(),
                           n["reproducible"].get<bool>()
                               ? fmt::format("; commands fix intra-op threads at run.threads or {}", kReproducibleThreads)
                               : std::string());
  if (!b.with_cuda) {
    std::cout << fmt::format("{:<10} not in this build (CPU-only; the cuda preset builds it)\n", "CUDA");
  } else if (!cuda_available()) {
    std::cout << fmt::format("{:<10} built with CUDA, but no device is visible\n", "CUDA");
  } else {
    const auto devs = cuda_devices();
    std::cout << fmt::format("{:<10} available, {} device(s)\n", "CUDA", devs.size());
    for (const auto& d : devs)
      std::cout << fmt::format("{:<10}   cuda:{} {} ({:.1f} GiB, sm_{}{})\n", "", d.index, d.name,
                               static_cast<double>(d.total_memory) / (1 << 30), d.major, d.minor);
  }
  const auto v = video_backend_info();
  if (v.available) {
    auto yes = [](const std::string& s) { return s.empty() ? std::string("none") : s; };
    std::cout << fmt::format("{:<10} libavformat {}, libavcodec {}; encoders: h264 {}, mpeg4 {}, gif {}, webp {}\n",
                             "FFmpeg", v.libavformat, v.libavcodec, yes(v.h264_encoder), yes(v.mpeg4_encoder),
                             yes(v.gif_encoder), yes(v.webp_encoder));
  } else {
    std::cout << fmt::format("{:<10} not in this build (OSVBENCH_WITH_FFMPEG=OFF): no mp4 decoding or writing\n",
                             "FFmpeg");
  }
  if (dist::world() > 1)
    std::cout << fmt::format("{:<10} rank {} of {} (local rank {}), backend {}: {}\n", "dist", dist::rank(),
                             dist::world(), dist::local_rank(), dist::backend(),
                             dist::backend() == "gloo" ? "tensors over c10d's Gloo process group, bytes over its TCPStore"
                                                       : "collectives over c10d's TCPStore");
  else
    std::cout << fmt::format("{:<10} one process (torchrun --nproc-per-node N --no-python osvbench ... runs N ranks)\n",
                             "dist");
  std::cout << fmt::format("{:<10} {}, {}, fmt: {}\n", "build", b.build_type, b.compiler, b.fmt_source);
  std::cout << fmt::format("{:<10} {}\n", "presets", join(preset_names(), ", "));
  std::cout << fmt::format("{:<10} {}\n", "methods", join(MethodRegistry::instance().names(), ", "));
  std::cout << "More: osvbench info --json | --config-keys | --methods | --presets | --protocols\n";
}

}  // namespace

void add_info_command(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<InfoOptions>();
  auto* sub = app.add_subcommand("info", "Print torch version, CUDA devices, threads, FFmpeg and build options");
  sub->add_flag("--json", o->json, "machine-readable environment (what results record)");
  sub->add_flag("--config-keys", o->config_keys, "every config key: type, default, meaning");
  sub->add_flag("--methods", o->methods, "registered methods and their samplers");
  sub->add_flag("--presets", o->presets, "the presets");
  sub->add_flag("--protocols", o->protocols, "named FVD protocols");
  sub->fallthrough();
  set.add(sub, [o] { return print_info(*o), kExitOk; });
}

}  // namespace osv
