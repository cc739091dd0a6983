// What every distilled student (OSV, AnimateLCM, SF-V) shares: a trainable copy of the teacher's
// UNet, the preconditioned network it is trained and sampled through, the training set's
// conditioning, and the run-cache keys.
//
// Dimension legend: B clips, T frames, C latent channels, h, w latent size.
#pragma once

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "methods/api/checkpoint.h"
#include "methods/distill/consistency.h"
#include "methods/svd/svd_pipeline.h"
#include "models/lora.h"

namespace osv {

class Config;

// A deep copy (parameters and buffers) of a UNet on the same device.
UNetSpatioTemporalConditionModel copy_unet(UNetSpatioTemporalConditionModel& src);

// TrainTask::unet_passes of a distillation task: the student's and the frozen teacher's counters.
std::map<std::string, int64_t> distill_unet_passes(const UNetSpatioTemporalConditionModel& student,
                                                    const UNetSpatioTemporalConditionModel& teacher);

// The train split as latents, first frames and CLIP embeddings (logged). `half`: every frame
// area-downscaled to half the preset's height and width first (the low resolution of Table 2g/2h).
EncodedClips load_train_data(const Config& c, SvdPipeline& pipe, const std::string& label, bool half = false);

// Rows `idx` (int64, drawn on the host: the data order) of `t`, on t's device.
torch::Tensor rows(const torch::Tensor& t, const torch::Tensor& idx);

// The conditioning of training clips `idx`: noise-augmented first-frame latent (mode), CLIP
// embedding, added_time_ids. No grad.
Conditioning training_conditioning(SvdPipeline& pipe, const EncodedClips& data, const torch::Tensor& idx);

// F_theta(c_in(sigma) x, c_noise(sigma)) with this conditioning, per-sample sigma [B]: the network a
// consistency function is built from (consistency_fn_batch).
BatchNet preconditioned_net(UNetSpatioTemporalConditionModel& u, const Conditioning& cd);
// The same for samplers (one sigma for the batch). With `cfg`, classifier-free guidance with the
// per-frame ramp w_min..w_max: F = F(uncond) + w (F(cond) - F(uncond)) (2 UNet calls). When
// `unet_calls` is given it counts the UNet evaluations made.
ConsistencyNet sampling_net(UNetSpatioTemporalConditionModel& u, const Conditioning& cd, bool cfg = false,
                            double w_min = 1.0, double w_max = 1.0, int64_t* unet_calls = nullptr);

// The pseudo-Huber distance a method trains with: train.huber_mode ("reference" = `reference`, the
// method's own source), train.huber_c, train.huber_c_scaling.
Huber huber_from_config(const Config& c, HuberMode reference);

// The autocast dtype of a distilled method's training forward passes (config "precision"): fp32 or
// bf16; fp16 is refused (it would need loss scaling, which is not implemented).
c10::ScalarType training_precision(const Config& c);

// f() with its forward passes autocast to `precision` on `device`'s type (fp32: as it is); a floating
// result comes back in fp32, so that losses and backward passes are taken in fp32.
torch::Tensor autocast_forward(c10::Device device, c10::ScalarType precision, const std::function<torch::Tensor()>& f);

// LoRA on the attention projections and ResNet convolutions (spatial and temporal), rank/alpha
// from osv.lora_rank / osv.lora_alpha (SPEC §3 [default]).
LoraConfig student_lora_config(const Config& c);

// The generator's update: backward of `loss`, an optimiser step when the loss and the gradients
// are finite (grad_norm recorded in m), then ema = mu * ema + (1 - mu) * params. Returns false and
// changes nothing for a non-finite step. Leaves the optimiser's gradients zeroed.
bool generator_update(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params,
                      std::vector<torch::Tensor>& ema, double mu, const torch::Tensor& loss,
                      std::map<std::string, double>& m);

// The discriminator's update: backward of `loss` and an optimiser step when the loss and the
// gradients of `params` are finite. Returns whether the step was skipped (counted by the training
// loop like a skipped generator step). Leaves the optimiser's gradients zeroed.
bool discriminator_update(torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params,
                          const torch::Tensor& loss);

// f() evaluated with the EMA copies swapped into `params` (no grad); the trained values are put
// back afterwards. How the consistency target of OSV's stage 2 and AnimateLCM is computed.
torch::Tensor with_ema_weights(std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& ema,
                               const std::function<torch::Tensor()>& f);

// A GAN run's checkpoint state: generator and discriminator parameters, the EMA copies, both
// optimisers.
struct GanState {
  std::vector<torch::Tensor>& g;
  std::vector<torch::Tensor>& d;
  std::vector<torch::Tensor>& ema;
  torch::optim::Optimizer& opt_g;
  torch::optim::Optimizer& opt_d;
  // The discriminator's untrained state that a resumed run needs (spectral norm's u, v); may be null.
  std::vector<torch::Tensor>* d_state = nullptr;
  void save(CheckpointWriter& a) const;
  void load(const CheckpointReader& a) const;
};

// Run-cache keys: the named config values as JSON, and a 12-hex digest of JSON.
nlohmann::json config_values(const Config& c, std::initializer_list<const char*> names);
std::string digest12(const nlohmann::json& j);
// A cached run's key: the named config values, the teacher folder, the training data, a version.
nlohmann::json run_key(const Config& c, std::initializer_list<const char*> names, const std::filesystem::path& svd,
                       const std::string& version);
// The training data's identity for a run key (synthetic split folder name or data.root).
std::string data_identity(const Config& c);

// Parameters whose names match any of the ECMAScript regexes.
std::vector<std::string> names_matching(torch::nn::Module& m, const std::vector<std::string>& patterns);

}  // namespace osv
