// `osvbench reconstruct`: the VAE's reconstructions of the held-out clips scored with FVD against
// them (how far the decoder alone, which decodes every method's samples, moves them), next to the
// real-vs-real floor at the same N. Writes the reconstructions (mp4) and results.json
// (osvbench.reconstruct/1).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "harness/evaluate.h"
#include "harness/options.h"
#include "harness/results.h"
#include "models/device.h"

namespace osv {
namespace fs = std::filesystem;
namespace {

struct ReconstructArgs {
  CommonOptions c;
  std::string out;
  int num = 0;
  bool no_floor = false;
};

std::string interval(const nlohmann::json& r) {
  if (!r.contains("ci")) return "";
  return fmt::format(" [{:.2f}, {:.2f}]", r["ci"].value("low", 0.0), r["ci"].value("high", 0.0));
}

int run(const ReconstructArgs& a) {
  std::vector<std::string> sugar;
  if (a.num) sugar.push_back(fmt::format("sample.num_samples={}", a.num));
  const Config cfg = resolve_config(a.c, sugar);
  parse_device(cfg.get<std::string>("device"));
  if (a.c.dry_run) return print_dry_run(cfg), kExitOk;
  const fs::path out = a.out.empty() ? fs::path(cfg.get<std::string>("run.root")) / ("reconstruct-" + cfg.short_hash())
                                     : fs::path(a.out);
  Evaluator ev(cfg);
  ReconstructResult result;
  result.row = ev.run_reconstruction(cfg, out / "videos", !a.no_floor);
  const auto& row = result.row;
  atomic_write(out / "results.json", result.to_json().dump(2) + "\n");
  std::cout << fmt::format("VAE reconstruction of {} held-out clips: FVD {:.2f}{} (pixel MSE {:.5f}, {:.3f} s per clip)\n",
                           row["n_fake"].get<int64_t>(), row["fvd"].get<double>(), interval(row),
                           row["pixel_mse"].get<double>(), row["latency_s_per_clip"].get<double>());
  if (row.contains("floor"))
    std::cout << fmt::format("training clips vs held-out clips (the real-vs-real floor, N {}): FVD {:.2f}{}; "
                             "reconstruction / floor = {:.2f}\n",
                             row["floor"]["n_fake"].get<int64_t>(), row["floor"]["fvd"].get<double>(),
                             interval(row["floor"]), row.value("ratio_to_floor", 0.0));
  std::cout << "wrote " << (out / "results.json").string() << " and " << (out / "videos").string() << "\n";
  return kExitOk;
}

}  // namespace

void add_reconstruct_command(CLI::App& app, CommandSet& set) {
  auto a = std::make_shared<ReconstructArgs>();
  auto* sub = app.add_subcommand(
      "reconstruct",
      "FVD of the VAE's reconstructions of the held-out clips (what the decoder alone costs every method), "
      "next to the real-vs-real floor at the same N");
  add_common(sub, a->c);
  sub->add_option("--num", a->num, "held-out clips to reconstruct (config sample.num_samples)");
  sub->add_option("--out", a->out, "output folder (default: <runs>/reconstruct-<config hash>)");
  sub->add_flag("--no-floor", a->no_floor, "skip the training-vs-held-out FVD at the same N");
  set.add(sub, [a] { return run(*a); });
}

}  // namespace osv
