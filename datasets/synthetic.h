// The embedded default's data: synthetic clips, deterministic from (seed, index), with varied
// appearance (textured backgrounds; circles, squares, triangles and rings of different colours
// and sizes) and motion (translation, rotation, scaling, camera pan, occlusion, lighting change).
// Each clip carries its factor labels. A blurry or frozen generator is easy to tell apart: the
// objects have sharp edges and every clip moves.
//
// Clips are uint8 [T, 3, H, W].
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace osv {

struct SyntheticOptions {
  int64_t frames = 14;
  int64_t height = 64;
  int64_t width = 64;
  double fps = 7.0;
  uint64_t seed = 0;
  int64_t min_objects = 2;
  int64_t max_objects = 4;
};

struct SyntheticClip {
  torch::Tensor video;    // uint8 [T, 3, H, W]
  nlohmann::json labels;  // factors: background, objects (shape, colour, size, motion), pan, lighting
};

// Clip `index` of the set named by options.seed; the same inputs give the same bytes.
SyntheticClip synthetic_clip(const SyntheticOptions& options, int64_t index);

// The fixed split: clips [0, num_test) are the held-out test set, [num_test, num_test+num_train) train.
struct SyntheticSplit {
  int64_t num_train = 0;
  int64_t num_test = 0;
  int64_t train_index(int64_t i) const { return num_test + i; }
  int64_t test_index(int64_t i) const { return i; }
};

// Writes the split as files: <dir>/test/NNNNN.mp4 and <dir>/train/NNNNN.mp4, each with its
// factor labels beside it (NNNNN.json); existing complete entries are kept (resumable).
// Returns the number of clips written now.
int64_t write_synthetic_set(const std::filesystem::path& dir, const SyntheticOptions& options,
                            const SyntheticSplit& split);

}  // namespace osv
