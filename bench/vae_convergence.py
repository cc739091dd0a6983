#!/usr/bin/env python3
"""How fast the embedded default's temporal VAE learns the synthetic clips, next to a peer.

Trains, with the harness's VAE recipe (without its pooled-latent term unless --pool-weight) and
the same data, (a) diffusers' AutoencoderKLTemporalDecoder in the embedded
config (`--widths`, one ResNet per level, 4 latent channels) and (b) a linear autoencoder with the
same compression (one strided conv in, one transposed conv out: 8x8 average-pool-like), and prints
every `--eval-every` steps the training L1 and, on held-out clips, the reconstruction L1 and the
per-frame mean-colour error (|mean RGB of reconstruction - mean RGB of frame|, in [-1, 1] units).
The last line is a JSON summary with the ratio of the two models' held-out errors.

Why: without `prepare`'s pooled-latent term the small VAE stays on a grey plateau (its
reconstructions lose the frame's colour, and every method's FVD on `small` sat at that floor).
This measures that gap without the harness:

  $OSVBENCH_VENV/bin/python bench/vae_convergence.py \
      --train runs/assets/synthetic-<hash>/train --test runs/assets/synthetic-<hash>/test
"""
import argparse
import glob
import json
import os
import time

import av
import numpy as np
import torch
import torch.nn as nn


def load_clips(folder, n, frames):
    files = sorted(glob.glob(os.path.join(folder, "*.mp4")))[:n]
    if not files:
        raise SystemExit(f"no .mp4 clips in {folder}")
    clips = []
    for f in files:
        with av.open(f) as c:
            clips.append(np.stack([fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)])[:frames])
    x = torch.tensor(np.stack(clips)).float() / 127.5 - 1.0  # [N, T, H, W, 3]
    return x.permute(0, 1, 4, 2, 3).contiguous()  # [N, T, 3, H, W]


class LinearAE(nn.Module):
    """Peer: the same spatial compression and latent channels, no nonlinearity, no norms."""

    def __init__(self, factor, latent):
        super().__init__()
        self.enc = nn.Conv2d(3, latent, factor, factor)
        self.dec = nn.ConvTranspose2d(latent, 3, factor, factor)

    def reconstruct(self, x, num_frames):  # x: [B*T, 3, H, W]
        return self.dec(self.enc(x))


class TemporalVae(nn.Module):
    """decoder_only: the latent is fixed to the frame's average pool (RGB, then zero channels) and
    only the decoder learns -- separates the decoder's ability to reproduce colour from the
    encoder's. no_norm: every GroupNorm replaced by identity (a diagnostic; not the architecture)."""

    def __init__(self, widths, latent, sample, decoder_only=False, no_norm=False):
        super().__init__()
        from diffusers import AutoencoderKLTemporalDecoder

        self.vae = AutoencoderKLTemporalDecoder(
            block_out_channels=widths, down_block_types=["DownEncoderBlock2D"] * len(widths),
            layers_per_block=1, latent_channels=latent)
        if no_norm:
            for m in list(self.vae.modules()):
                for name, child in list(m.named_children()):
                    if isinstance(child, nn.GroupNorm):
                        setattr(m, name, nn.Identity())
        if decoder_only:
            self.vae.encoder.requires_grad_(False)
            self.vae.quant_conv.requires_grad_(False)
        self.sample, self.decoder_only, self.factor, self.latent = sample, decoder_only, 1 << (len(widths) - 1), latent

    def reconstruct(self, x, num_frames):  # x: [B*T, 3, H, W]
        if self.decoder_only:
            pooled = torch.nn.functional.avg_pool2d(x, self.factor)  # [B*T, 3, h, w]
            z = torch.cat([pooled, pooled.new_zeros(pooled.shape[0], self.latent - 3, *pooled.shape[2:])], 1)
            return self.vae.decode(z, num_frames=num_frames).sample
        post = self.vae.encode(x).latent_dist
        self.last_mode = post.mode()  # [B*T, Z, h, w], for the pooled-latent term
        z = post.sample() if (self.sample and self.training) else post.mode()
        return self.vae.decode(z, num_frames=num_frames).sample


def evaluate(model, test, frames):
    model.eval()
    with torch.no_grad():
        x = test.reshape(-1, *test.shape[2:])
        r = torch.cat([model.reconstruct(x[i:i + frames], frames) for i in range(0, len(x), frames)])
    model.train()
    return (r - x).abs().mean().item(), (r.mean((2, 3)) - x.mean((2, 3))).abs().mean().item()


def train(name, model, data, test, a):
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=a.lr)
    T = data.shape[1]
    nf = min(a.frames, T)
    l1s, rows, t0 = [], [], time.time()
    for step in range(1, a.steps + 1):
        idx = torch.from_numpy(rng.integers(0, data.shape[0], a.clips))
        f0 = int(rng.integers(0, T - nf + 1))
        x = data[idx][:, f0:f0 + nf]
        if a.crop < x.shape[-1]:
            y0, x0 = rng.integers(0, x.shape[-1] - a.crop + 1, 2)
            x = x[..., y0:y0 + a.crop, x0:x0 + a.crop]
        flat = x.reshape(-1, *x.shape[2:])
        r = model.reconstruct(flat, nf)
        l1 = (r - flat).abs().mean()
        loss = l1 + (r - flat).pow(2).mean()
        if a.pool_weight > 0 and isinstance(model, TemporalVae) and not model.decoder_only:
            # The harness's train.vae_pool_weight term: latent channels 0-2 pulled to the average pool.
            z = model.last_mode[:, :3]
            loss = loss + a.pool_weight * (z - torch.nn.functional.avg_pool2d(flat, model.factor)).abs().mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        l1s.append(l1.item())
        if step % a.eval_every == 0 or step == a.steps:
            tl1, col = evaluate(model, test, T)
            rows.append({"step": step, "train_l1": float(np.mean(l1s[-a.eval_every:])), "test_l1": tl1,
                         "test_colour_err": col, "seconds": time.time() - t0})
            print(f"{name:>7} step {step:5d}  train L1 {rows[-1]['train_l1']:.4f}  test L1 {tl1:.4f}  "
                  f"mean-colour err {col:.4f}  {rows[-1]['seconds']:.0f} s", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", required=True, help="folder of training clips (mp4)")
    p.add_argument("--test", required=True, help="folder of held-out clips (mp4)")
    p.add_argument("--num-train", type=int, default=256)
    p.add_argument("--num-test", type=int, default=8)
    p.add_argument("--frames", type=int, default=8, help="frames per clip in a training step")
    p.add_argument("--clips", type=int, default=2, help="clips per training step (the harness uses 2)")
    p.add_argument("--crop", type=int, default=32, help="random square crop (the harness: half the frame)")
    p.add_argument("--widths", default="32,64,64,64", help="VAE block_out_channels (the small preset's)")
    p.add_argument("--latent", type=int, default=4)
    p.add_argument("--sample", action="store_true", help="decode a posterior sample (the harness does)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--decoder-only", action="store_true",
                   help="VAE: fix the latent to the frame's average pool and train the decoder alone")
    p.add_argument("--no-norm", action="store_true", help="VAE: every GroupNorm replaced by identity (diagnostic)")
    p.add_argument("--pool-weight", type=float, default=0.0,
                   help="VAE: the harness's train.vae_pool_weight term (the small preset uses 1.0, 5000 steps)")
    p.add_argument("--models", default="vae,linear")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    data = load_clips(a.train, a.num_train, 1 << 30)
    test = load_clips(a.test, a.num_test, data.shape[1])
    widths = [int(w) for w in a.widths.split(",")]
    factor = 1 << (len(widths) - 1)
    results = {}
    for name in a.models.split(","):
        torch.manual_seed(a.seed)
        model = (TemporalVae(widths, a.latent, a.sample, a.decoder_only, a.no_norm) if name == "vae"
                 else LinearAE(factor, a.latent))
        results[name] = train(name, model, data, test, a)
    summary = {k: v[-1] for k, v in results.items()}
    if "vae" in summary and "linear" in summary:
        summary["test_l1_ratio_vae_over_linear"] = summary["vae"]["test_l1"] / summary["linear"]["test_l1"]
        summary["colour_err_ratio_vae_over_linear"] = (summary["vae"]["test_colour_err"]
                                                       / max(summary["linear"]["test_colour_err"], 1e-12))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
