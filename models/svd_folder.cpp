#include "models/svd_folder.h"

#include <fmt/format.h>

#include "common/atomic_file.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/text.h"
#include "models/nn_util.h"
#include "models/safetensors.h"
#include "models/weights.h"

namespace osv {
namespace fs = std::filesystem;

namespace {

void expect_component(const nlohmann::json& index, const fs::path& file, const std::string& name,
                      const std::vector<std::string>& classes) {
  if (!index.contains(name)) throw InputError(fmt::format("{}: no '{}' component", file.string(), name));
  const auto& v = index.at(name);
  const std::string cls = v.is_array() && v.size() == 2 && v[1].is_string() ? v[1].get<std::string>() : "?";
  if (std::find(classes.begin(), classes.end(), cls) == classes.end())
    throw InputError(fmt::format("{}: component '{}' is a {}, expected {}", file.string(), name, cls,
                                 join(classes, " or ")));
}

}  // namespace

SvdFolder load_svd_folder(const fs::path& root, c10::ScalarType dtype, c10::Device device) {
  const fs::path index_file = root / "model_index.json";
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(read_file(index_file));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", index_file.string(), e.what()));
  }
  if (index.value("_class_name", "") != "StableVideoDiffusionPipeline")
    log::warn("{}: _class_name is '{}', not StableVideoDiffusionPipeline", index_file.string(),
              index.value("_class_name", ""));
  expect_component(index, index_file, "unet", {"UNetSpatioTemporalConditionModel"});
  expect_component(index, index_file, "vae", {"AutoencoderKLTemporalDecoder"});
  expect_component(index, index_file, "image_encoder", {"CLIPVisionModelWithProjection"});
  expect_component(index, index_file, "scheduler", {"EulerDiscreteScheduler"});

  SvdFolder f;
  f.root = root;
  f.dtype = dtype;
  f.unet = load_pretrained<UNetSpatioTemporalConditionModel, UNetSVDConfig>(root / "unet", dtype, device);
  f.vae = load_pretrained<AutoencoderKLTemporalDecoder, VaeTemporalConfig>(root / "vae", dtype, device);
  f.image_encoder =
      load_pretrained<ClipVisionModelWithProjection, ClipVisionConfig>(root / "image_encoder", dtype, device);
  f.scheduler_config = read_model_config(root / "scheduler" / "scheduler_config.json");
  const fs::path fe = root / "feature_extractor" / "preprocessor_config.json";
  if (fs::exists(fe)) {
    const auto j = read_model_config(fe);
    if (j.contains("image_mean") && j.contains("image_std")) {
      for (int i = 0; i < 3; ++i) {
        f.image_normalisation.mean[i] = j.at("image_mean").at(i).get<double>();
        f.image_normalisation.std[i] = j.at("image_std").at(i).get<double>();
      }
    }
  }
  return f;
}

}  // namespace osv
