// Named FVD protocols as the literature uses them: how many real and generated clips,
// how many frames. `osvbench fvd compute --protocol NAME` applies one to the config.
#pragma once

#include <string>
#include <vector>

namespace osv {

class Config;

struct FvdProtocol {
  std::string name;
  int num_real;
  int num_fake;
  int frames;
  std::string description;
};

const std::vector<FvdProtocol>& fvd_protocols();
// Throws osv::UsageError with the known names and a "did you mean".
const FvdProtocol& find_fvd_protocol(const std::string& name);
// Sets fvd.num_real, fvd.num_fake and fvd.frames.
void apply_fvd_protocol(Config& config, const FvdProtocol& protocol);

}  // namespace osv
