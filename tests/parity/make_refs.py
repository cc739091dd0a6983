"""Reference outputs for the C++ parity tests (label `parity`).

Builds random-initialised tiny configs of the reference models with the real Python
implementations (diffusers, transformers), perturbs every parameter so that no zero- or
one-initialised weight hides a missing operation, saves each model with save_pretrained
(the layout users' real checkpoints have) and saves inputs and outputs as safetensors.

    python make_refs.py OUT_DIR [--only dinov2,clip,unet,vae]
"""

import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def save_io(out, name, tensors):
    save_file({k: v.detach().contiguous().float() if v.is_floating_point() else v.contiguous()
               for k, v in tensors.items()}, os.path.join(out, f"{name}_io.safetensors"))


def make_dinov2(out):
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(1)
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2,
                       image_size=28, patch_size=14, layerscale_value=0.5, attn_implementation="eager")
    m = perturb(Dinov2Model(cfg), 11)
    m.save_pretrained(os.path.join(out, "dinov2"))
    io = {}
    for tag, (h, w) in {"native": (28, 28), "other": (42, 56)}.items():
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(len(tag) * 101))
        with torch.no_grad():
            r = m(pixel_values=x, output_hidden_states=True)
        io[f"{tag}.pixel_values"] = x
        io[f"{tag}.last_hidden_state"] = r.last_hidden_state
        io[f"{tag}.pooler_output"] = r.pooler_output
        for i, hs in enumerate(r.hidden_states):
            io[f"{tag}.hidden_states.{i}"] = hs
    save_io(out, "dinov2", io)


def make_clip(out):
    from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(2)
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                           image_size=28, patch_size=14, projection_dim=24, hidden_act="gelu",
                           attn_implementation="eager")
    m = perturb(CLIPVisionModelWithProjection(cfg), 12)
    m.save_pretrained(os.path.join(out, "clip"))
    # The SVD pipeline's image path: [0,1] image -> [-1,1] -> antialiased resize -> [0,1] -> CLIP normalise.
    image = torch.rand(2, 3, 40, 64, generator=torch.Generator().manual_seed(5))
    x = _resize_with_antialiasing(image * 2.0 - 1.0, (cfg.image_size, cfg.image_size))
    x = (x + 1.0) / 2.0
    pixel_values = CLIPImageProcessor()(images=x, do_normalize=True, do_center_crop=False, do_resize=False,
                                        do_rescale=False, return_tensors="pt").pixel_values
    with torch.no_grad():
        r = m(pixel_values=pixel_values)
    save_io(out, "clip", {"image": image, "pixel_values": pixel_values, "image_embeds": r.image_embeds,
                          "last_hidden_state": r.last_hidden_state})


def make_unet(out):
    from diffusers import UNetSpatioTemporalConditionModel

    torch.manual_seed(3)
    m = UNetSpatioTemporalConditionModel(
        sample_size=8, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                          "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                        "CrossAttnUpBlockSpatioTemporal"),
        block_out_channels=(32, 64, 64), addition_time_embed_dim=8, projection_class_embeddings_input_dim=24,
        layers_per_block=2, cross_attention_dim=32, transformer_layers_per_block=1, num_attention_heads=(2, 4, 4),
        num_frames=4)
    m = perturb(m, 13)
    m.save_pretrained(os.path.join(out, "unet"), safe_serialization=True)
    g = torch.Generator().manual_seed(7)
    sample = torch.randn(2, 4, 8, 8, 8, generator=g)
    sigma = torch.tensor([700.0, 0.5])
    timestep = 0.25 * sigma.log()
    ehs = torch.randn(2, 1, 32, generator=g)
    ids = torch.tensor([[6.0, 127.0, 0.02], [4.0, 60.0, 0.1]])
    with torch.no_grad():
        y = m(sample, timestep, encoder_hidden_states=ehs, added_time_ids=ids).sample
    save_io(out, "unet", {"sample": sample, "timestep": timestep, "encoder_hidden_states": ehs,
                          "added_time_ids": ids, "out": y})


def make_vae(out):
    from diffusers import AutoencoderKLTemporalDecoder

    torch.manual_seed(4)
    m = AutoencoderKLTemporalDecoder(in_channels=3, out_channels=3,
                                     down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                                     block_out_channels=(32, 64), layers_per_block=2, latent_channels=4,
                                     sample_size=16)
    m = perturb(m, 14)
    m.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    g = torch.Generator().manual_seed(8)
    frames = 3
    images = torch.rand(2 * frames, 3, 16, 16, generator=g) * 2 - 1
    with torch.no_grad():
        dist = m.encode(images).latent_dist
        latents = torch.randn(2 * frames, 4, 8, 8, generator=g)
        decoded = m.decode(latents, num_frames=frames).sample
    save_io(out, "vae", {"images": images, "latent_mean": dist.mean, "latent_std": dist.std,
                         "latents": latents, "decoded": decoded,
                         "num_frames": torch.tensor([frames], dtype=torch.int64)})


def make_svd(out):
    """A whole diffusers SVD folder (model_index.json, unet/, vae/, image_encoder/, scheduler/,
    feature_extractor/) from the tiny components above, saved by the pipeline itself."""
    from diffusers import AutoencoderKLTemporalDecoder, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    pipe = StableVideoDiffusionPipeline(
        vae=AutoencoderKLTemporalDecoder.from_pretrained(os.path.join(out, "vae")),
        image_encoder=CLIPVisionModelWithProjection.from_pretrained(os.path.join(out, "clip")),
        unet=UNetSpatioTemporalConditionModel.from_pretrained(os.path.join(out, "unet")),
        scheduler=svd_scheduler(),
        feature_extractor=CLIPImageProcessor(crop_size={"height": 28, "width": 28}, size={"shortest_edge": 28}),
    )
    pipe.save_pretrained(os.path.join(out, "svd"), safe_serialization=True)


FRECHET_CASES = [(16, 10, 12), (64, 5000, 4000), (400, 100, 150), (400, 2000, 2000), (1024, 500, 600),
                 (1024, 5000, 5000)]


def make_frechet(out):
    """Fréchet distances by the scipy.linalg.sqrtm formula (the pytorch-fid/TF-GAN way) on random
    correlated features, with N below and above the dimension (singular and full covariances)."""
    import numpy as np
    import scipy.linalg

    rng = np.random.default_rng(123)
    tensors = {}
    for i, (d, n1, n2) in enumerate(FRECHET_CASES):
        mix = rng.standard_normal((d, d)) / np.sqrt(d)
        x1 = rng.standard_normal((n1, d)) @ mix + rng.standard_normal(d)
        x2 = (rng.standard_normal((n2, d)) @ (mix + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d))
              + rng.standard_normal(d) * 0.5)
        mu1, mu2 = x1.mean(0), x2.mean(0)
        s1, s2 = np.cov(x1, rowvar=False, bias=True), np.cov(x2, rowvar=False, bias=True)
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        covmean = np.real(covmean)
        fd = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
        tensors.update({f"{i}.mu1": torch.from_numpy(mu1), f"{i}.s1": torch.from_numpy(s1),
                        f"{i}.mu2": torch.from_numpy(mu2), f"{i}.s2": torch.from_numpy(s2),
                        f"{i}.fd": torch.tensor([fd], dtype=torch.float64)})
        if n1 * d <= 200_000:  # the features of the small cases, to test the C++ accumulation
            tensors[f"{i}.x1"] = torch.from_numpy(x1)
            tensors[f"{i}.x2"] = torch.from_numpy(x2)
    tensors["cases"] = torch.tensor(FRECHET_CASES, dtype=torch.int64)
    save_file(tensors, os.path.join(out, "frechet_io.safetensors"))


def make_i3d(out):
    """Random-weight I3D (the port's names, 287 tensors), its TorchScript detector, and features
    of uint8 test videos through the tf preprocessing."""
    import i3d_ref

    torch.manual_seed(6)
    net = i3d_ref.InceptionI3d(eps=1e-3).eval()
    g = torch.Generator().manual_seed(16)
    with torch.no_grad():
        for name, t in sorted(net.state_dict().items()):
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif t.is_floating_point():
                t.add_(0.02 * torch.randn(t.shape, generator=g))
    weights = {k: v.contiguous() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(weights) == 287, len(weights)
    save_file(weights, os.path.join(out, "i3d_random.safetensors"))
    det = torch.jit.script(i3d_ref.Detector(net))
    det.save(os.path.join(out, "i3d_torchscript_random.pt"))
    videos = torch.randint(0, 256, (2, 10, 3, 48, 64), generator=g, dtype=torch.uint8)  # [B, T, 3, H, W]
    with torch.no_grad():
        x = i3d_ref.resize_tf_legacy(videos.float(), 224, 224) * (2.0 / 255.0) - 1.0  # tf mode
        logits, pooled = net(x.permute(0, 2, 1, 3, 4))
        scripted = det(videos.permute(0, 2, 1, 3, 4).contiguous(), True, True, True)
    save_io(out, "i3d", {"videos": videos, "logits": logits, "pooled": pooled, "scripted": scripted})


# Two folder pairs of mp4s whose sizes and fps differ from every preset's and from each other.
# "sg": exactly 16 frames per video, so fvd2048_16f's random window is the whole video whatever
# the seed; "tf": 16 to 24 frames, of which fvd_tf takes the first 16.
FVD_FOLDERS = {"sg": [(16, 40, 48, 25), (16, 36, 36, 10), (16, 56, 40, 24), (16, 32, 64, 30), (16, 48, 48, 12)],
               "tf": [(20, 40, 48, 25), (16, 36, 36, 10), (24, 56, 40, 24), (18, 32, 64, 30), (22, 48, 48, 12)]}


def _write_mp4(path, frames, fps):
    import av

    with av.open(path, "w") as c:
        try:
            s = c.add_stream("libx264", rate=fps)
            s.options = {"crf": "18"}
        except Exception:  # a PyAV build without libx264
            s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _decode_mp4(path):
    """Every frame as uint8 [T, H, W, 3], converted like the C++ decoder (bicubic swscale)."""
    import av
    import numpy as np

    with av.open(path) as c:
        return np.stack([f.to_ndarray(format="rgb24", interpolation="BICUBIC") for f in c.decode(video=0)])


def _fd(a, b, ddof):
    """Textbook FD in float64: S1^1/2 from numpy's eigh, then the eigenvalues of S1^1/2 S2 S1^1/2."""
    import numpy as np

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
    w, v = np.linalg.eigh(s1)
    h = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = h @ s2 @ h
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)


def make_fvd_folders(out):
    """Folders of real mp4s and the FVD an independent Python pipeline computes on them: PyAV
    decoding at the native size and fps, the protocol's frames, and
      fvd2048_16f: the TorchScript detector (rescale, resize, return_features) on uint8 [1, 3, 16, H, W],
                   covariance normaliser N;
      fvd_tf:      the first 16 frames, TF1 legacy bilinear to 224x224 from the source size,
                   2x/255 - 1, the native I3D weights' logits, normaliser N-1."""
    import numpy as np
    from safetensors.torch import load_file

    import i3d_ref

    if not os.path.exists(os.path.join(out, "i3d_random.safetensors")):
        make_i3d(out)
    # The random I3D's logits barely move between these videos (FVD ~1e-7): its logits layer is
    # scaled by 1000 here (FVD x 1e6) so that the comparison is of numbers well above round-off.
    weights = load_file(os.path.join(out, "i3d_random.safetensors"))
    weights["logits.conv3d.weight"] = weights["logits.conv3d.weight"] * 1000.0
    weights["logits.conv3d.bias"] = weights["logits.conv3d.bias"] * 1000.0
    save_file(weights, os.path.join(out, "fvd_i3d.safetensors"))
    net = i3d_ref.InceptionI3d(eps=1e-3).eval()
    net.load_state_dict(weights, strict=False)
    det = torch.jit.script(i3d_ref.Detector(net)).eval()
    det.save(os.path.join(out, "fvd_i3d_torchscript.pt"))
    rng = np.random.default_rng(31)
    io = {}
    for tag, specs in FVD_FOLDERS.items():
        feats = {}
        for role, shift in (("real", 0.0), ("fake", 0.6)):
            d = os.path.join(out, "fvd_folders", f"{tag}_{role}")
            os.makedirs(d, exist_ok=True)
            rows = []
            for i, (t, h, w, fps) in enumerate(specs):
                # Smooth moving colour waves: compressible, and different between the two sets.
                yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
                f = rng.uniform(1, 4, size=3)
                ph = rng.uniform(0, 6.28, size=3)
                frames = np.stack([np.stack([127 + 100 * np.sin(f[c] * (xx + shift * yy) * 6.28 + ph[c] + 0.3 * k)
                                             for c in range(3)], -1) for k in range(t)]).clip(0, 255).astype(np.uint8)
                path = os.path.join(d, f"v{i:02d}.mp4")
                _write_mp4(path, frames, fps)
                dec = _decode_mp4(path)[:16]  # both protocols' frames here (sg videos have exactly 16)
                assert dec.shape[0] == 16, (path, dec.shape)
                if i == 0:
                    io[f"{tag}.{role}.frames0"] = torch.from_numpy(dec.copy())
                x = torch.from_numpy(dec).permute(3, 0, 1, 2).unsqueeze(0).contiguous()  # uint8 [1, 3, 16, H, W]
                with torch.no_grad():
                    if tag == "sg":
                        y = det(x, rescale=True, resize=True, return_features=True)
                    else:
                        v = i3d_ref.resize_tf_legacy(x.float().permute(0, 2, 1, 3, 4), 224, 224) * (2.0 / 255.0) - 1.0
                        y, _ = net(v.permute(0, 2, 1, 3, 4))
                rows.append(y.double().reshape(-1).numpy())
            feats[role] = np.stack(rows)
        io[f"{tag}.fvd"] = torch.tensor([_fd(feats["real"], feats["fake"], 0 if tag == "sg" else 1)],
                                        dtype=torch.float64)
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(out, "fvd_folders_io.safetensors"))


SCHEDULER_STEPS = [1, 2, 4, 8, 14, 25]


def svd_scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                  beta_schedule="scaled_linear", interpolation_type="linear",
                                  prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
                                  timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)


def make_euler(out):
    """EulerDiscreteScheduler under SVD's config: sigma lists and timesteps for several k, and a
    whole CFG sampling trajectory of the tiny UNet written the way the SVD pipeline loops."""
    from diffusers import UNetSpatioTemporalConditionModel

    sched = svd_scheduler()
    io = {}
    for k in SCHEDULER_STEPS:
        sched.set_timesteps(k)
        io[f"k{k}.sigmas"] = sched.sigmas.clone()
        io[f"k{k}.timesteps"] = sched.timesteps.clone()
        io[f"k{k}.init_noise_sigma"] = torch.tensor([float(sched.init_noise_sigma)], dtype=torch.float64)
    unet = UNetSpatioTemporalConditionModel.from_pretrained(os.path.join(out, "unet")).eval()
    g = torch.Generator().manual_seed(21)
    frames, steps = 4, 4
    noise = torch.randn(1, frames, 4, 8, 8, generator=g)
    image_latent = torch.randn(1, 4, 8, 8, generator=g)
    ehs = torch.randn(1, 1, 32, generator=g)
    ids = torch.tensor([[6.0, 127.0, 0.02]])
    sched.set_timesteps(steps)
    latents = noise * sched.init_noise_sigma
    cond = image_latent.unsqueeze(1).repeat(1, frames, 1, 1, 1)
    guidance = torch.linspace(1.0, 3.0, frames).unsqueeze(0)[..., None, None, None]
    with torch.no_grad():
        for t in sched.timesteps:
            lmi = sched.scale_model_input(torch.cat([latents] * 2), t)
            lmi = torch.cat([lmi, torch.cat([torch.zeros_like(cond), cond])], dim=2)
            v = unet(lmi, t, encoder_hidden_states=torch.cat([torch.zeros_like(ehs), ehs]),
                     added_time_ids=ids.repeat(2, 1)).sample
            v_uncond, v_cond = v.chunk(2)
            v = v_uncond + guidance * (v_cond - v_uncond)
            latents = sched.step(v, t, latents).prev_sample
    io.update({"traj.noise": noise, "traj.image_latent": image_latent, "traj.encoder_hidden_states": ehs,
               "traj.added_time_ids": ids, "traj.latents": latents,
               "traj.steps": torch.tensor([steps], dtype=torch.int64)})
    save_io(out, "euler", io)


def make_pipeline(out):
    """StableVideoDiffusionPipeline.__call__ end to end, as a user runs it: PIL first frames, the
    CLIP branch (antialiased resize to 224, normalise), the VAE latent of the noise-augmented
    frame, added time ids (fps - 1), Euler with the per-frame CFG ramp, chunked temporal decode.
    The image encoder takes 224 x 224 (patch 32: 7 x 7 tokens) because the pipeline always resizes
    to 224. The augmentation noise is the generator's first draw (the pipeline's order), saved."""
    import numpy as np
    from PIL import Image
    from diffusers import AutoencoderKLTemporalDecoder, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(9)
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=224, patch_size=32, projection_dim=32, hidden_act="gelu",
                           attn_implementation="eager")
    clip = perturb(CLIPVisionModelWithProjection(cfg), 19)
    pipe = StableVideoDiffusionPipeline(
        vae=AutoencoderKLTemporalDecoder.from_pretrained(os.path.join(out, "vae")),
        image_encoder=clip,
        unet=UNetSpatioTemporalConditionModel.from_pretrained(os.path.join(out, "unet")),
        scheduler=svd_scheduler(),
        feature_extractor=CLIPImageProcessor(crop_size={"height": 224, "width": 224}, size={"shortest_edge": 224}),
    )
    pipe.save_pretrained(os.path.join(out, "svd_pipeline"), safe_serialization=True)
    g = torch.Generator().manual_seed(23)
    frames, steps, seed = 5, 4, 31
    first = torch.randint(0, 256, (2, 3, 16, 16), generator=g, dtype=torch.uint8)  # [B, 3, H, W]
    noise = torch.randn(2, frames, 4, 8, 8, generator=g)  # [B, T, C, h, w]
    aug = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))  # the pipeline's first draw
    images = [Image.fromarray(first[i].permute(1, 2, 0).numpy()) for i in range(2)]
    kw = dict(height=16, width=16, num_frames=frames, num_inference_steps=steps, min_guidance_scale=1.0,
              max_guidance_scale=3.0, fps=7, motion_bucket_id=127, noise_aug_strength=0.02)

    def call(n, output_type, chunk):
        return pipe(images[:n], generator=torch.Generator().manual_seed(seed), latents=noise[:n].clone(),
                    output_type=output_type, decode_chunk_size=chunk, **kw).frames

    with torch.no_grad():
        latents = call(2, "latent", frames)
        video = call(2, "pt", frames)  # [B, T, 3, H, W] in [0, 1]; one chunk per clip (the default chunk)
        video_one_chunk3 = call(1, "pt", 3)  # one clip in chunks of 3 and 2 frames
        # decode_latents chunks the flattened batch [B*T]: with 2 clips of 5 frames in chunks of 3,
        # the second chunk holds frames 3, 4 of clip 0 and frame 0 of clip 1, decoded together.
        video_batch_chunk3 = call(2, "pt", 3)
        embeds = pipe._encode_image(images, "cpu", 1, False)  # [B, 1, D]
    save_io(out, "pipeline", {"first_frames": first, "noise": noise, "aug_noise": aug, "latents": latents,
                              "video": video, "video_one_chunk3": video_one_chunk3,
                              "video_batch_chunk3": video_batch_chunk3, "image_embeds": embeds,
                              "steps": torch.tensor([steps], dtype=torch.int64)})


MAKERS = {"frechet": make_frechet, "i3d": make_i3d, "fvd_folders": make_fvd_folders, "dinov2": make_dinov2, "clip": make_clip, "unet": make_unet, "vae": make_vae, "svd": make_svd,
          "euler": make_euler, "pipeline": make_pipeline}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--only", default=",".join(MAKERS))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for name in args.only.split(","):
        MAKERS[name](args.out)
        print(f"[parity] wrote {name} reference to {args.out}", file=sys.stderr)
    with open(os.path.join(args.out, "versions.json"), "w") as f:
        import diffusers
        import transformers
        json.dump({"torch": torch.__version__, "diffusers": diffusers.__version__,
                   "transformers": transformers.__version__}, f)


if __name__ == "__main__":
    main()
