"""Runs an SVD folder that `osvbench prepare` wrote (runs/assets/svd-embedded-<hash>/) the way a
diffusers user would: StableVideoDiffusionPipeline.from_pretrained, then __call__ on PIL first
frames (the pipeline resizes the CLIP branch's input to 224 x 224 whatever the model was built for).
Prints one JSON line: the frames' shape, their range and whether they are finite; exits non-zero
when the pipeline fails to load or to run (77 when diffusers is not installed).

usage: run_exported_pipeline.py FOLDER --height H --width W --frames T [--steps K]
"""
import argparse
import json
import sys

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--frames", type=int, required=True)
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)

    try:
        import numpy as np
        from PIL import Image
        from diffusers import StableVideoDiffusionPipeline
    except ImportError as e:
        print(f"missing a Python package: {e} (scripts/setup.sh installs them)")
        return 77  # the caller skips

    pipe = StableVideoDiffusionPipeline.from_pretrained(args.folder)
    rng = np.random.default_rng(3)
    first = Image.fromarray(rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8))
    with torch.no_grad():
        frames = pipe(first, height=args.height, width=args.width, num_frames=args.frames,
                      num_inference_steps=args.steps, decode_chunk_size=args.frames, output_type="pt",
                      generator=torch.Generator().manual_seed(5)).frames  # [1, T, 3, H, W] in [0, 1]
    out = {"shape": list(frames.shape), "finite": bool(torch.isfinite(frames).all()),
           "min": float(frames.min()), "max": float(frames.max()), "std": float(frames.std()),
           "image_size": pipe.image_encoder.config.image_size}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
