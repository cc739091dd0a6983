#include "harness/assets.h"

#include "dist/dist.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>

#include "common/config.h"
#include "common/dir_lock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/sha256.h"
#include "datasets/clip_set.h"
#include "datasets/synthetic.h"
#include "dist/dist.h"
#include "methods/osv/osv.h"
#include "methods/svd/embedded.h"
#include "metrics/fvd/detector.h"
#include "metrics/fvd/embedded_detector.h"
#include "models/device.h"

namespace osv {
namespace fs = std::filesystem;

std::unique_ptr<FvdDetector> make_detector(const Config& c) {
  const auto id = c.get<std::string>("fvd.detector");
  const auto device = parse_device(c.get<std::string>("device"));
  std::string weights = c.get<std::string>("fvd.weights");
  if (id == "i3d_torchscript") {
    if (weights.empty()) throw UsageError("fvd.detector=i3d_torchscript needs fvd.weights=<i3d_torchscript.pt>");
    return make_torchscript_i3d(weights, device);
  }
  NativeI3dOptions o;
  o.preprocess = parse_fvd_preprocess(c.get<std::string>("fvd.preprocess"));
  o.bn_eps = c.get<double>("fvd.bn_eps");
  o.pooled = c.get<std::string>("fvd.features") == "pool";
  o.size = c.get<long long>("fvd.input_size");
  o.device = device;
  if (weights.empty()) weights = embedded_detector_path(c);
  return make_native_i3d(weights, o);
}

std::string embedded_detector_path(const Config& c, bool force, bool data_parallel) {
  // The embedded default: built once per setting, content-addressed under the runs folder.
  EmbeddedDetectorOptions eo;
  eo.input_size = c.get<long long>("fvd.input_size");
  eo.frames = c.get<long long>("fvd.frames");
  eo.train_steps = c.get<long long>("fvd.embedded_train_steps");
  eo.motion_weight = c.get<double>("fvd.embedded_motion_weight");
  eo.bn_eps = c.get<double>("fvd.bn_eps");
  eo.data_parallel = data_parallel;
  const fs::path p = fs::path(c.get<std::string>("run.root")) / "assets" /
                     fmt::format("i3d-embedded-v3-s{}-{}px-{}f-{}steps-{}.safetensors", eo.seed, eo.input_size,
                                 eo.frames, eo.train_steps, embedded_i3d_key(eo));
  if (data_parallel && dist::world() > 1) {
    // The ranks build together (a split build's collectives): rank 0 decides under the lock whether
    // the file is there and tells the others (ranks that looked for themselves could decide
    // differently while another process finishes it, and hang in different collectives); they build
    // together, rank 0 writes it, and every rank waits for the file.
    DirLock lock(p.parent_path() / ".detector.lock", "training the embedded FVD detector");  // rank 0's
    const bool build = dist::all_gather(force || !fs::exists(p) ? "1" : "0").front() == "1";
    if (build) {
      if (force && dist::is_main()) fs::remove(p);
      build_embedded_i3d_to(p, eo, /*write=*/dist::is_main());
    }
    dist::barrier("embedded detector " + p.filename().string());
    return p.string();
  }
  if (!force && fs::exists(p)) return p.string();
  DirLock lock(p.parent_path() / ".detector.lock", "training the embedded FVD detector");
  if (force) fs::remove(p);
  return ensure_embedded_i3d(p, eo).string();
}

std::string detector_weights_sha256(const Config& c) {
  std::string weights = c.get<std::string>("fvd.weights");
  if (weights.empty()) weights = embedded_detector_path(c);
  if (!fs::is_regular_file(weights)) throw InputError(fmt::format("fvd.weights {}: no such file", weights));
  return sha256_file_memo(weights);
}

void prepare_assets(const Config& c, const std::vector<std::string>& assets, bool force) {
  // One process builds a runs folder's assets at a time; a second waits, then finds them built.
  DirLock lock(fs::path(c.get<std::string>("run.root")) / "assets" / ".prepare.lock", "preparing the embedded assets");
  auto wants = [&](const std::string& a) {
    return assets.empty() || std::find(assets.begin(), assets.end(), a) != assets.end();
  };
  auto timed = [](const std::string& what, const std::function<std::string()>& build) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string where = build();
    std::cout << fmt::format("{:<9} {} ({:.1f} s)\n", what + ":", where,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  if (wants("data")) {
    if (c.get<std::string>("data.source") != "synthetic") {
      std::cout << "data:     data.source is not synthetic; nothing to build\n";
    } else {
      timed("data", [&] {
        const fs::path dir = synthetic_data_dir(c);
        if (force) fs::remove_all(dir);
        SyntheticOptions o;
        o.frames = c.get<long long>("data.frames");
        o.height = c.get<long long>("data.height");
        o.width = c.get<long long>("data.width");
        o.fps = c.get<double>("data.fps");
        o.seed = static_cast<uint64_t>(c.get<long long>("data.split_seed"));
        SyntheticSplit split{c.get<long long>("data.num_train"), c.get<long long>("data.num_test")};
        const auto n = write_synthetic_set(dir, o, split);
        log::info("synthetic split: {} clips written now, {} train + {} test in total", n, split.num_train, split.num_test);
        return dir.string();
      });
    }
  }
  if (wants("detector")) {
    timed("detector", [&] {
      if (!c.get<std::string>("fvd.weights").empty()) return "fvd.weights=" + c.get<std::string>("fvd.weights");
      return embedded_detector_path(c, force, /*data_parallel=*/true);  // every rank is here
    });
  }
  std::vector<std::string> svd;
  for (const char* a : {"vae", "image_encoder", "teacher"})
    if (wants(a)) svd.push_back(a);
  if (!svd.empty()) {
    if (!c.get<std::string>("model.path").empty()) {
      std::cout << "svd:      model.path=" << c.get<std::string>("model.path") << " (nothing to train)\n";
    } else {
      prepare_embedded_svd(c, assets.empty() ? std::vector<std::string>{} : svd, force,
                           [](const std::string& what, const std::string& where, double s) {
                             std::cout << fmt::format("{:<9} {} ({:.1f} s)\n", what + ":", where, s);
                           });
    }
  }
  if (wants("backbone")) {
    timed("backbone", [&] {
      if (const auto p = c.get<std::string>("disc.backbone_path"); !p.empty()) return "disc.backbone_path=" + p;
      return ensure_embedded_backbone(c, force).string();
    });
  }
}

fs::path ensure_svd_folder(const Config& c) {
  if (!c.get<std::string>("model.path").empty()) return c.get<std::string>("model.path");
  const auto dir = embedded_svd_dir(c);
  if (!fs::exists(dir / "unet" / "diffusion_pytorch_model.safetensors")) {
    log::info("the embedded models are missing; building them (as `osvbench prepare` would)");
    prepare_assets(c, {"data", "vae", "image_encoder", "teacher"}, false);
  }
  return svd_folder_for(c);
}

}  // namespace osv
