// The one Method every distilled consistency student is: OSV, AnimateLCM and SF-V configure it with
// their weights, schedule, parameterisation and samplers instead of each writing its own class.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "methods/api/method.h"
#include "methods/distill/consistency.h"
#include "models/unet_svd.h"

namespace osv {

struct ConsistencyStudentSpec {
  std::string name;                              // the method's registry name
  std::string weights_id;                        // what rows record as `weights` ("lora:<file>", ...)
  UNetSpatioTemporalConditionModel student{nullptr};  // loaded (LoRA merged); put in eval mode here
  ConsistencyParam param = ConsistencyParam::Svd;     // the parameterisation it was trained with
  double sigma_min = 0.002;
  // The k-step schedule (descending) the consistency sampler visits; TTS also asks for k + 1.
  std::function<std::vector<double>(int64_t steps)> sigmas;
  bool allow_cfg = true;                         // with --cfg every network call is guided (2 UNet calls)
  std::string cfg_refusal;                       // the UsageError text when CFG is asked for and not allowed
  std::optional<TtsVariant> tts;                 // set: the method also samples with "tts" (2 NFE per step)
  bool tts_fresh_noise = false;
  c10::ScalarType precision = c10::kFloat;       // the UNet's forward passes autocast to it (fp32: as they are)
};

// The samplers the spec offers: "consistency", and "tts" when spec.tts is set.
std::vector<std::string> consistency_student_samplers(const ConsistencyStudentSpec& spec);

// The Method: nfe = (tts ? 2 : 1) x steps x (cfg ? 2 : 1), counted UNet calls reported per clip.
std::unique_ptr<Method> make_consistency_student(ConsistencyStudentSpec spec);

}  // namespace osv
