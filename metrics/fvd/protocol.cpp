#include "metrics/fvd/protocol.h"

#include <fmt/format.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/text.h"

namespace osv {

const std::vector<FvdProtocol>& fvd_protocols() {
  static const std::vector<FvdProtocol> p = {
      {"fvd2048_16f", 2048, 2048, 16, "2,048 real and 2,048 generated clips of 16 frames (StyleGAN-V)"},
      {"osv_paper", 1000, 1000, 14, "the OSV paper: 1,000 OpenVid-1M test clips, 14 frames"},
  };
  return p;
}

const FvdProtocol& find_fvd_protocol(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& p : fvd_protocols()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  throw UsageError(fmt::format("unknown FVD protocol '{}'{}; known: {}", name, did_you_mean(name, names),
                               join(names, ", ")));
}

void apply_fvd_protocol(Config& config, const FvdProtocol& protocol) {
  config.set_json("fvd.num_real", protocol.num_real);
  config.set_json("fvd.num_fake", protocol.num_fake);
  config.set_json("fvd.frames", protocol.frames);
}

}  // namespace osv
