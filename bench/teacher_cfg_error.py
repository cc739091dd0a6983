#!/usr/bin/env python3
"""Where classifier-free guidance helps or hurts an SVD teacher, measured in latent space.

Loads a diffusers SVD folder (the embedded teacher `runs/assets/svd-embedded-<hash>/`, or any
other), encodes held-out clips, and prints

1. per noise level sigma: the mean squared error against the clean latents of the conditional
   denoiser, the unconditional one (zero image latent and zero embedding, as SVD's pipeline), and
   the guided one with SVD's per-frame ramp (w from 1 on the first frame to --w on the last),
   plus the squared difference between the two branches;
2. Euler trajectories from pure noise (Karras sigmas, rho 7, --steps steps, one noise draw per
   clip shared by every variant): the final latent's error against the clip's own latents, and the
   final latents' standard deviation next to the clean latents' (over-saturation shows as a larger
   one), without guidance, with --w, with w_max 1.5, and with --w applied only below or above
   sigma 1 and 10.

The conditioning is the harness's: the first frame plus 0.02 noise through the VAE (mode, not
scaled), its CLIP embedding after SVD's antialiased resize, added_time_ids (fps-1, motion bucket,
noise augmentation) from --fps/--motion-bucket/--noise-aug.

  $OSVBENCH_VENV/bin/python bench/teacher_cfg_error.py runs/assets/svd-embedded-<hash> \
      --test runs/assets/synthetic-<hash>/test --clips 16

The last line is a JSON summary.
"""
import argparse
import json
import os

import numpy as np
import torch
from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing
from transformers import CLIPVisionModelWithProjection

from vae_convergence import load_clips  # same folder: the held-out clips as [N, T, 3, H, W] in [-1, 1]


def karras(n, lo, hi, rho=7.0):
    r = np.linspace(0, 1, n)
    return list((hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho) + [0.0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="diffusers SVD folder (vae/, unet/, image_encoder/, feature_extractor/)")
    ap.add_argument("--test", required=True, help="folder of held-out .mp4 clips")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=8, help="Euler steps of the trajectories")
    ap.add_argument("--w", type=float, default=3.0, help="guidance w_max (SVD's default 3)")
    ap.add_argument("--sigma-min", type=float, default=0.002)
    ap.add_argument("--sigma-max", type=float, default=700.0)
    ap.add_argument("--fps", type=int, default=7)
    ap.add_argument("--motion-bucket", type=int, default=127)
    ap.add_argument("--noise-aug", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    vae = AutoencoderKLTemporalDecoder.from_pretrained(os.path.join(a.folder, "vae")).eval()
    unet = UNetSpatioTemporalConditionModel.from_pretrained(os.path.join(a.folder, "unet")).eval()
    enc = CLIPVisionModelWithProjection.from_pretrained(os.path.join(a.folder, "image_encoder")).eval()
    with open(os.path.join(a.folder, "feature_extractor", "preprocessor_config.json")) as f:
        pp = json.load(f)
    sf = vae.config.scaling_factor
    x = load_clips(a.test, a.clips, a.frames)
    B, T = x.shape[:2]
    torch.set_grad_enabled(False)
    z = torch.stack([vae.encode(x[i]).latent_dist.mode() for i in range(B)]) * sf  # [B, T, C, h, w]
    f0 = x[:, 0]
    image_latent = vae.encode(f0 + a.noise_aug * torch.randn_like(f0)).latent_dist.mode()  # [B, C, h, w]
    size = pp["crop_size"]["height"]
    px = (_resize_with_antialiasing(f0, (size, size)) + 1.0) / 2.0
    px = (px - torch.tensor(pp["image_mean"]).view(1, 3, 1, 1)) / torch.tensor(pp["image_std"]).view(1, 3, 1, 1)
    embeds = enc(pixel_values=px).image_embeds.unsqueeze(1)  # [B, 1, D]
    time_ids = torch.tensor([[a.fps - 1, a.motion_bucket, a.noise_aug]], dtype=torch.float32).repeat(B, 1)

    def denoise(xn, sigma, cond):
        c_in, c_skip, c_out = 1 / (sigma**2 + 1) ** 0.5, 1 / (sigma**2 + 1), -sigma / (sigma**2 + 1) ** 0.5
        lat = image_latent if cond else torch.zeros_like(image_latent)
        emb = embeds if cond else torch.zeros_like(embeds)
        inp = torch.cat([xn * c_in, lat.unsqueeze(1).expand(-1, T, -1, -1, -1)], 2)
        return c_skip * xn + c_out * unet(inp, torch.full((B,), 0.25 * np.log(sigma)), emb, time_ids).sample

    def ramp(w_max):
        return torch.linspace(1.0, w_max, T).view(1, T, 1, 1, 1)

    def err(v):
        return ((v - z) ** 2).mean().item()

    summary = {"folder": a.folder, "clips": B, "latent_std": z.std().item(), "per_sigma": [], "trajectories": []}
    print(f"{'sigma':>7} {'cond':>7} {'uncond':>7} {'cfg':>7} {'|c-u|^2':>8}   (mean squared error per latent element; "
          f"latent variance {z.var().item():.3f})")
    for sigma in [0.02, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 700.0]:
        xn = z + sigma * torch.randn_like(z)
        dc, du = denoise(xn, sigma, True), denoise(xn, sigma, False)
        dg = du + ramp(a.w) * (dc - du)
        row = {"sigma": sigma, "cond": err(dc), "uncond": err(du), "cfg": err(dg), "branch_gap": ((dc - du) ** 2).mean().item()}
        summary["per_sigma"].append(row)
        print(f"{sigma:7.2f} {row['cond']:7.3f} {row['uncond']:7.3f} {row['cfg']:7.3f} {row['branch_gap']:8.3f}")

    sig = karras(a.steps, a.sigma_min, a.sigma_max)
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(a.seed + 1))

    def trajectory(w_max, below=None, above=None):
        xx = noise * sig[0]
        for i in range(a.steps):
            s0, s1 = sig[i], sig[i + 1]
            d = denoise(xx, s0, True)
            if w_max != 1.0 and (below is None or s0 <= below) and (above is None or s0 > above):
                du = denoise(xx, s0, False)
                d = du + ramp(w_max) * (d - du)
            xx = xx + (s1 - s0) * (xx - d) / s0
        return xx

    print(f"Euler, {a.steps} steps, clean latents' std {z.std().item():.3f}:")
    for name, w_max, below, above in [("no guidance", 1.0, None, None), (f"w_max {a.w:g}", a.w, None, None),
                                      ("w_max 1.5", 1.5, None, None), (f"w_max {a.w:g} only sigma<=1", a.w, 1.0, None),
                                      (f"w_max {a.w:g} only sigma>1", a.w, None, 1.0),
                                      (f"w_max {a.w:g} only sigma>10", a.w, None, 10.0)]:
        out = trajectory(w_max, below, above)
        row = {"variant": name, "final_error": err(out), "std": out.std().item()}
        summary["trajectories"].append(row)
        print(f"  {name:<28} final error {row['final_error']:.3f}  std {row['std']:.3f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
