#include "harness/fvd_command.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "common/atomic_file.h"
#include "common/config.h"
#include "common/errors.h"
#include "metrics/fvd/frechet.h"
#include "reports/provenance.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

// The info keys two sets must share to be comparable.
const char* kIdentity[] = {"detector", "weights_sha256", "preprocess", "features", "frames"};

FrechetStats load_set(const std::string& path, const char* role) {
  if (fs::is_directory(path))
    throw NotImplementedError(fmt::format(
        "--{} {}: computing statistics from a folder of videos needs the video readers (issue #5); "
        "pass a statistics file from `osvbench fvd stats`",
        role, path));
  if (!fs::exists(path)) throw InputError(fmt::format("--{} {}: no such file", role, path));
  return FrechetStats::load(path);
}

void check_compatible(const FrechetStats& a, const FrechetStats& b, const std::string& what) {
  if (a.dim() != b.dim())
    throw InputError(fmt::format("{}: feature dimensions differ ({} vs {})", what, a.dim(), b.dim()));
  for (const char* k : kIdentity) {
    const auto ia = a.info.find(k), ib = b.info.find(k);
    const std::string va = ia == a.info.end() ? "" : ia->second, vb = ib == b.info.end() ? "" : ib->second;
    if (va != vb) throw InputError(fmt::format("{}: '{}' differs ('{}' vs '{}'); FVD across them is meaningless", what, k, va, vb));
  }
}

}  // namespace

void fvd_merge_command(const std::vector<std::string>& inputs, const std::string& output) {
  if (inputs.empty()) throw UsageError("fvd merge: give --in FILE...");
  FrechetStats merged = FrechetStats::load(inputs.front());
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    auto s = FrechetStats::load(inputs[i]);
    check_compatible(merged, s, fmt::format("fvd merge {} + {}", inputs.front(), inputs[i]));
    merged.merge(s);
  }
  merged.save(output);
  std::cout << fmt::format("merged {} file(s): {} videos, {}-d features -> {}\n", inputs.size(), merged.count(),
                           merged.dim(), output);
}

void fvd_compute_command(const Config& config, const std::string& real, const std::string& fake,
                         const std::string& out_json, bool fd_inf) {
  const auto r = load_set(real, "real"), f = load_set(fake, "fake");
  check_compatible(r, f, "fvd compute");
  FvdOptions o;
  o.normaliser = parse_cov_normaliser(config.get<std::string>("fvd.cov_normaliser"));
  const bool features = r.has_features() && f.has_features();
  o.bootstrap = features ? static_cast<int>(config.get<long long>("fvd.bootstrap")) : 0;
  o.seed = static_cast<uint64_t>(config.get<long long>("fvd.bootstrap_seed"));
  o.fd_inf = fd_inf;
  const auto res = compute_fvd(r, f, o);

  auto get = [&](const char* k) {
    auto it = r.info.find(k);
    return it == r.info.end() ? std::string("unrecorded") : it->second;
  };
  std::cout << fmt::format("FVD {:.4f}", res.fvd);
  if (res.ci_low)
    std::cout << fmt::format("  {:.0f}% CI [{:.4f}, {:.4f}] ({} bootstrap resamples, seed {})", 100 * res.confidence,
                             *res.ci_low, *res.ci_high, res.bootstrap, res.bootstrap_seed);
  else
    std::cout << "  (no CI: the statistics carry no per-video features)";
  std::cout << "\n";
  std::cout << fmt::format("N real {} / fake {}, {}-d features; mean term {:.4f}, its bias for equal sets {:.4f}\n",
                           res.n_real, res.n_fake, res.dim, res.mean_term, res.mean_bias);
  if (res.fd_inf) std::cout << fmt::format("FD-infinity (1/N extrapolation) {:.4f}\n", *res.fd_inf);
  std::cout << fmt::format("detector {} (weights sha256 {}), preprocessing {}, covariance normaliser {}\n",
                           get("detector"), get("weights_sha256").substr(0, 16), get("preprocess"), res.normaliser);

  nlohmann::json j = {{"fvd", res.fvd},
                      {"n_real", res.n_real},
                      {"n_fake", res.n_fake},
                      {"dim", res.dim},
                      {"normaliser", res.normaliser},
                      {"mean_term", res.mean_term},
                      {"mean_bias", res.mean_bias},
                      {"real", real},
                      {"fake", fake},
                      {"detector", r.info}};
  if (res.ci_low)
    j["ci"] = {{"low", *res.ci_low}, {"high", *res.ci_high}, {"confidence", res.confidence},
               {"bootstrap", res.bootstrap}, {"seed", res.bootstrap_seed}};
  if (res.fd_inf) j["fd_inf"] = *res.fd_inf;
  j["provenance"] = provenance(config);
  if (!out_json.empty()) {
    atomic_write(out_json, j.dump(2) + "\n");
    std::cout << "wrote " << out_json << "\n";
  }
}

}  // namespace osv
