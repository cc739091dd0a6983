// A diffusers Stable Video Diffusion folder as users download it: model_index.json, unet/,
// vae/, image_encoder/, scheduler/, feature_extractor/. Loads every network in fp32, fp16 or
// bf16 on a device; weights may be the plain files or the `.fp16` variants.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "models/clip_vision.h"
#include "models/unet_svd.h"
#include "models/vae_temporal.h"

namespace osv {

struct SvdFolder {
  std::filesystem::path root;
  c10::ScalarType dtype = c10::kFloat;
  UNetSpatioTemporalConditionModel unet{nullptr};
  AutoencoderKLTemporalDecoder vae{nullptr};
  ClipVisionModelWithProjection image_encoder{nullptr};
  nlohmann::json scheduler_config;      // scheduler/scheduler_config.json
  ClipNormalisation image_normalisation;  // feature_extractor/preprocessor_config.json
};

// Throws osv::InputError naming the file for a missing or mismatched component.
SvdFolder load_svd_folder(const std::filesystem::path& root, c10::ScalarType dtype = c10::kFloat,
                          c10::Device device = c10::Device(c10::kCPU));

}  // namespace osv
