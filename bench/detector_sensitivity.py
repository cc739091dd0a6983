"""What the FVD detector sees: FVD of degraded copies of real clips against held-out real clips.

Takes N clips of a synthetic split's train folder, writes degraded copies as PNG frame folders,
and scores each with `osvbench fvd compute` against the held-out test folder (the identity copy
gives the real-vs-real floor at this N). The degradations stand in for what few-step samplers
produce: no motion (every frame the first), a motion smear (frame t = mean of frames 0..t, as a
conditional mean over motions would look), blur growing with time, uniform blur (what a blurry
decoder does), and shuffled frame order (motion without temporal coherence).

    python bench/detector_sensitivity.py --data runs/assets/synthetic-XXXX --runs runs [--n 256]
      [--osvbench build/default/harness/osvbench] [--preset small] [--out /tmp/detsens]
      [--reuse-frames] [key=value ...]   (config overrides for the detector, e.g. fvd.features=pool)

Prints a markdown table and writes <out>/results-<overrides>.json. Needs PyAV, numpy and Pillow
(scripts/requirements.txt).
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys

import av
import numpy as np
from PIL import Image, ImageFilter


def read_clip(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])  # [T, H, W, 3] uint8


def blur(frame, sigma):
    if sigma <= 0:
        return frame
    return np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(radius=sigma)))


def smear(clip):
    f = clip.astype(np.float64)
    return np.stack([f[: i + 1].mean(0) for i in range(clip.shape[0])]).round().astype(np.uint8)


# (name, degradation of a [T, H, W, 3] uint8 clip given a numpy Generator)
VARIANTS = [
    ("identity", lambda clip, rng: clip),
    ("frozen (every frame = frame 0)", lambda clip, rng: np.repeat(clip[:1], clip.shape[0], 0)),
    ("motion smear (frame t = mean of 0..t)", lambda clip, rng: smear(clip)),
    ("blur growing 0.5 px per frame", lambda clip, rng: np.stack([blur(x, 0.5 * i) for i, x in enumerate(clip)])),
    ("uniform blur 1 px", lambda clip, rng: np.stack([blur(x, 1.0) for x in clip])),
    ("frame order shuffled", lambda clip, rng: clip[rng.permutation(clip.shape[0])]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a synthetic split folder (train/ and test/ of mp4)")
    ap.add_argument("--runs", required=True)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--osvbench", default="build/default/harness/osvbench")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--out", default="/tmp/detector_sensitivity")
    ap.add_argument("--reuse-frames", action="store_true", help="keep the frame folders a previous run wrote")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides passed to osvbench")
    a = ap.parse_args()
    data, out = pathlib.Path(a.data), pathlib.Path(a.out)
    rng = np.random.default_rng(0)
    clips = sorted((data / "train").glob("*.mp4"))[: a.n]
    names = [name for name, _ in VARIANTS]
    if not (a.reuse_frames and (out / f"v{len(names) - 1}").is_dir()):
        for i, p in enumerate(clips):
            clip = read_clip(p)
            for k, (_, degrade) in enumerate(VARIANTS):
                v = degrade(clip, rng)
                d = out / f"v{k}" / f"{i:05d}"
                d.mkdir(parents=True, exist_ok=True)
                for j, fr in enumerate(v):
                    Image.fromarray(fr).save(d / f"{j:03d}.png")
    common = ["--preset", a.preset, "--runs", a.runs] + a.overrides
    tag = re.sub(r"[^A-Za-z0-9_.=-]", "_", "-".join(a.overrides)) or "default"
    real = out / f"real-{tag}.safetensors"  # the held-out clips' statistics, extracted once
    subprocess.run([a.osvbench, "fvd", "stats", "--videos", str(data / "test"), "--out", str(real)] + common,
                   check=True, stdout=subprocess.DEVNULL)
    rows = []
    for k, name in enumerate(names):
        res = out / f"v{k}-{tag}.json"
        subprocess.run([a.osvbench, "fvd", "compute", "--real", str(real), "--fake", str(out / f"v{k}"), "--out",
                        str(res)] + common, check=True, stdout=subprocess.DEVNULL)
        r = json.loads(res.read_text())
        fvd = r.get("fvd")
        ci = r.get("ci", {})
        rows.append({"variant": name, "fvd": fvd, "ci": [ci.get("low"), ci.get("high")], "n_fake": len(clips)})
        print(f"| {name} | {fvd:.2f} | [{ci.get('low', float('nan')):.2f}, {ci.get('high', float('nan')):.2f}] |",
              flush=True)
    # A clip with no motion against a motion-smeared one: how far apart the detector puts the two
    # failure modes a 1-step and a many-step sampler of a weak model tend to produce.
    frozen_over_smear = rows[1]["fvd"] / rows[2]["fvd"] if rows[2]["fvd"] else float("nan")
    print(f"frozen / smear = {frozen_over_smear:.2f}; frozen / identity = {rows[1]['fvd'] / rows[0]['fvd']:.2f}")
    (out / f"results-{tag}.json").write_text(json.dumps(
        {"data": str(data), "n": len(clips), "overrides": a.overrides, "rows": rows,
         "frozen_over_smear": frozen_over_smear}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
