"""diffusers side of the LoRA round trip: load the adapter that the C++ test exported into the
reference diffusers UNet, merge it, run the same inputs and compare with the C++ merged output.
Exits non-zero above the tolerance.

UNetSpatioTemporalConditionModel has no load_lora_adapter of its own, so this does what
diffusers' PeftAdapterMixin.load_lora_adapter does: LoraConfig from the file's
`lora_adapter_metadata` (keys without the "unet." prefix), inject_adapter_in_model, then
set_peft_model_state_dict with the prefix stripped from the tensor names.

    python check_lora.py PARITY_DIR
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file

TOLERANCE = 1e-4


def main():
    d = sys.argv[1]
    from diffusers import UNetSpatioTemporalConditionModel

    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict
    from peft.tuners.tuners_utils import BaseTunerLayer
    from safetensors import safe_open

    unet = UNetSpatioTemporalConditionModel.from_pretrained(os.path.join(d, "unet")).eval()
    path = os.path.join(d, "lora_cpp.safetensors")
    with safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()["lora_adapter_metadata"])
    config = LoraConfig(**{k.removeprefix("unet."): v for k, v in meta.items() if k.startswith("unet.")})
    inject_adapter_in_model(config, unet, adapter_name="cpp")
    state = {k.removeprefix("unet."): v for k, v in load_file(path).items()}
    result = set_peft_model_state_dict(unet, state, adapter_name="cpp")
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if unexpected:
        print(f"[parity] lora: tensors diffusers/PEFT did not use: {unexpected[:5]}")
        sys.exit(1)
    for module in unet.modules():
        if isinstance(module, BaseTunerLayer):
            module.merge()
    io = load_file(os.path.join(d, "unet_io.safetensors"))
    with torch.no_grad():
        out = unet(io["sample"], io["timestep"], encoder_hidden_states=io["encoder_hidden_states"],
                   added_time_ids=io["added_time_ids"]).sample
    cpp = load_file(os.path.join(d, "lora_cpp_out.safetensors"))["out"]
    diff = (out - cpp).abs().max().item()
    changed = (out - io["out"]).abs().max().item()
    print(f"[parity] lora: diffusers fused vs C++ merged  max |diff| = {diff:.3g} "
          f"(adapter moves the output by {changed:.3g}; tolerance {TOLERANCE:.0e})")
    if not diff <= TOLERANCE or changed < 1e-3:
        sys.exit(1)


if __name__ == "__main__":
    main()
