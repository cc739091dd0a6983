// The FVD detector of the embedded presets. No Kinetics weights exist here, so the embedded
// default is an I3D (same architecture, reduced input resolution) trained from seeded random
// weights on synthetic clips of a seed of its own to regress the clips' generative factors —
// motion (camera pan velocity, lighting rate, the objects' speed, spin and number) and appearance
// (background colours, lighting level, the objects' colours, size and a position) — on logits
// 0..21 (the other 378 logits stay random projections of the learned features). Supervised
// factor regression shares neither weights nor objective with the methods' DINOv2 discriminator
// backbone. Its weights are written as safetensors and their sha256 is recorded in every result
// like any other detector's; numbers from it are comparable only with numbers from the same
// detector hash — never with published FVDs.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

#include "metrics/fvd/i3d.h"

namespace osv {

struct EmbeddedDetectorOptions {
  uint64_t seed = 0;
  int64_t input_size = 64;   // frames are resized to input_size x input_size
  int64_t frames = 8;
  int64_t calibration_clips = 64;
  int64_t train_steps = 200;  // 0: random weights, BN calibration only
  int64_t batch = 16;
  double lr = 3e-4;       // peak; 20 warm-up steps, then cosine decay
  double grad_clip = 1.0;  // global gradient norm; 0 = none
  double motion_weight = 4.0;  // loss weight of the motion targets (appearance: 1)
  double finetune_lr = 1e-4;   // train_steps / 4 more steps with fixed, recalibrated BN statistics
  double bn_eps = 1e-3;
  // In a process group: split each step's batch across the ranks (batch statistics over the global
  // batch, gradients averaged). Only where every rank builds the detector together (prepare): a
  // build some ranks start alone must stay whole. One process: no effect.
  bool data_parallel = false;
};

// Steps with fixed BN statistics after the `train_steps` with batch statistics (a quarter as many).
int64_t embedded_finetune_steps(const EmbeddedDetectorOptions& o);

// Builds the network: seeded random weights, `train_steps` of factor regression on synthetic
// clips (batch statistics in every batch norm), embedded_finetune_steps() more with fixed statistics
// recalibrated on the calibration clips every 25 steps, then BN statistics from one pass over
// `calibration_clips` clips and the logits layer scaled to unit-variance outputs. With
// `data_parallel` in a process group, each step's batch is split across the ranks (see above).
InceptionI3d build_embedded_i3d(const EmbeddedDetectorOptions& o);

// Builds and saves it (atomically) unless `path` exists; returns `path`.
std::filesystem::path ensure_embedded_i3d(const std::filesystem::path& path, const EmbeddedDetectorOptions& o);
// What the saved file says about how it was built (its safetensors metadata, before a split build's
// note): every option that shapes the weights except bn_eps.
std::map<std::string, std::string> embedded_i3d_description(const EmbeddedDetectorOptions& o);
// A content key of the options that shape the weights (the description above and bn_eps): 12 hex
// digits, for the file's cached name.
std::string embedded_i3d_key(const EmbeddedDetectorOptions& o);

// Builds it and, with `write`, saves it to `path` (atomically). A split build (embedded_i3d_splits)
// is a collective: every rank calls this together, and one of them writes.
void build_embedded_i3d_to(const std::filesystem::path& path, const EmbeddedDetectorOptions& o, bool write);
// Whether a build splits its batches across the process group's ranks: data_parallel, more than one
// rank, and the batch a multiple of the world size (else every rank builds it whole, with a warning).
bool embedded_i3d_splits(const EmbeddedDetectorOptions& o);

}  // namespace osv
