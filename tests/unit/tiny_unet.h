// A two-block SVD UNet config small enough for unit tests (32 channels, one attention head,
// 16-wide cross-attention, 8-wide added-time features).
#pragma once

#include "models/unet_svd.h"

namespace osv::testing {

inline UNetSVDConfig tiny_unet_config(int64_t frames) {
  UNetSVDConfig c;
  c.sample_size = 4;
  c.down_block_types = {"CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"};
  c.up_block_types = {"UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"};
  c.block_out_channels = {32, 32};
  c.layers_per_block = {1, 1};
  c.cross_attention_dim = {16, 16};
  c.transformer_layers_per_block = {1, 1};
  c.num_attention_heads = {1, 1};
  c.addition_time_embed_dim = 8;
  c.projection_class_embeddings_input_dim = 24;
  c.num_frames = frames;
  return c;
}

}  // namespace osv::testing
