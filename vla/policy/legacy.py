"""Convert a VLAPolicy checkpoint written before the policy became LeRobot's PreTrainedPolicy (config.json with
"kind": "vla_policy", normalisation stats inside it) into today's layout: LeRobot's config.json, backbone.json,
and the stats as LeRobot processors. The weights are the same tensors.

    python -m vla.policy.legacy OLD_DIR NEW_DIR
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from lerobot.utils.constants import ACTION, OBS_STATE

from vla.core.checkpoint import load_checkpoint, load_weights

LEGACY_KIND = "vla_policy"


def is_legacy(directory: str | Path) -> bool:
    config = Path(directory) / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("kind") == LEGACY_KIND


def convert(old: str | Path, new: str | Path) -> Path:
    from vla.policy.configuration_vla import VLAConfig
    from vla.policy.modeling_vla import VLAPolicy, _tokenizer_from_json, backbone_from_config
    from vla.policy.processor_vla import make_vla_latent_pre_post_processors

    ckpt = load_checkpoint(old, expected_kind=LEGACY_KIND, with_train_state=False)
    saved = ckpt.config
    known = {f.name for f in fields(VLAConfig)}
    config = VLAConfig(**{k: v for k, v in saved["policy"].items() if k in known})
    stats = saved.get("stats") or {}
    processors = None
    if "state" in stats and "action" in stats:  # a finetuned policy: its features and processors
        image_size = config.image_size  # the dataset's image sizes were not saved; the network resizes anyway
        config.set_features({key: (3, image_size, image_size) for key in config.cameras},
                            state_dim=config.state_dim, action_dim=config.action_dim)
        processors = make_vla_latent_pre_post_processors(config, {OBS_STATE: stats["state"], ACTION: stats["action"]})
    policy = VLAPolicy(config, backbone_from_config(saved["backbone_config"]), _tokenizer_from_json(saved["tokenizer"]))
    if saved.get("lora_applied"):
        policy.apply_lora()
    load_weights(policy, ckpt.weights, Path(old))
    return policy.save_pretrained(new, processors=processors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="a checkpoint directory written by an older vla-pretrain / vla-finetune")
    parser.add_argument("new", help="where to write the converted checkpoint")
    args = parser.parse_args(argv)
    print(f"converted {args.old} -> {convert(args.old, args.new)}")


if __name__ == "__main__":
    main()
