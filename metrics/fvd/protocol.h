// Named FVD protocols as the literature uses them. A protocol fixes what reaches the detector from
// a folder of videos — frames per clip and how they are chosen, the source fps (native), the
// resize (the detector's own preprocessing, from the source resolution: the preset's training
// resolution never touches FVD of user folders), the count of videos (an error below it unless
// --allow-fewer; a seeded subset above it) — and the normaliser and detector. Fields left empty
// (or 0) are not fixed by the protocol: the config decides them and the result records them.
// `osvbench fvd compute --protocol NAME` applies one.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace osv {

class Config;

struct FvdProtocol {
  std::string name;
  int num_real = 0;            // 0: any count
  int num_fake = 0;
  int frames = 0;
  std::string frame_choice;    // "first" | "random_window" (seeded per video, fvd.subset_seed)
  std::string detector;        // fvd.detector ("" = config)
  std::string preprocess;      // fvd.preprocess ("" = config)
  int input_size = 0;          // fvd.input_size of the native detector (0 = config)
  std::string normaliser;      // fvd.cov_normaliser ("" = config)
  std::string expected_sha256; // of the detector weights ("" = not known here)
  std::string description;
  std::string reference;
};

const std::vector<FvdProtocol>& fvd_protocols();
// Throws osv::UsageError with the known names and a "did you mean".
const FvdProtocol& find_fvd_protocol(const std::string& name);
// Sets fvd.frames, fvd.num_real / fvd.num_fake (when fixed), and the detector, preprocessing,
// input size and normaliser the protocol fixes.
void apply_fvd_protocol(Config& config, const FvdProtocol& protocol);

// How the videos of a folder reach the detector. Without a protocol: the first fvd.frames frames
// at the source's fps and resolution, every video.
struct FolderRule {
  std::string protocol;        // "" = none
  int64_t frames = 0;
  bool random_window = false;
  int64_t count = 0;           // 0 = every video
  bool allow_fewer = false;
  uint64_t seed = 0;
  nlohmann::json to_json() const;
  // InputError when `n` videos (of `where`, described as `what`) fall short of the protocol's
  // count and fewer are not allowed.
  void require_count(int64_t n, const std::string& where, const std::string& what) const;
};
FolderRule folder_rule(const Config& config, const FvdProtocol* protocol, bool real, bool allow_fewer);

}  // namespace osv
