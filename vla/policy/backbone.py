"""The vision-language backbone: any SmolVLM/Idefics3 checkpoint, or a tiny random one built offline.

Both go through `AutoModelForImageTextToText.from_pretrained`, so a real hub id or local path
is one config value. We keep only the inner `model` (vision encoder + connector + text decoder)
and drop the LM head: the policy reads hidden states, it never generates text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

IMAGE_TOKEN = "<image>"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN]

# Words every tiny tokenizer knows, so instructions outside the training corpus still tokenize sensibly.
BASE_WORDS = ("push reach pick place open close press the a to puck goal button drawer door window "
              "handle plate coffee slide top down into of on red blue green grab move put").split()


def build_tokenizer(texts: list[str]):
    """A word-level tokenizer trained locally on the task instructions, wrapped for transformers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1)
    tok.train_from_iterator([" ".join(BASE_WORDS)] + [t.lower() for t in texts], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN,
                                   bos_token=BOS_TOKEN, eos_token=EOS_TOKEN,
                                   additional_special_tokens=[IMAGE_TOKEN])


@dataclass
class TinyBackboneSpec:
    image_size: int = 64
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    text_hidden: int = 128
    text_layers: int = 2
    heads: int = 4
    scale_factor: int = 2


def build_tiny_backbone(directory: str | Path, texts: list[str] | None = None,
                        spec: TinyBackboneSpec | None = None, seed: int = 0) -> Path:
    """Write a random-initialised SmolVLM of the real architecture + a local tokenizer to `directory`."""
    from transformers import AutoModelForImageTextToText, SmolVLMConfig

    spec = spec or TinyBackboneSpec()
    tokenizer = build_tokenizer(texts or [])
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    config = SmolVLMConfig(
        image_token_id=image_token_id,
        scale_factor=spec.scale_factor,
        vision_config=dict(hidden_size=spec.vision_hidden, intermediate_size=spec.vision_hidden * 2,
                           num_hidden_layers=spec.vision_layers, num_attention_heads=spec.heads,
                           image_size=spec.image_size, patch_size=spec.patch_size),
        text_config=dict(model_type="llama", hidden_size=spec.text_hidden, intermediate_size=spec.text_hidden * 2,
                         num_hidden_layers=spec.text_layers, num_attention_heads=spec.heads,
                         num_key_value_heads=spec.heads, vocab_size=len(tokenizer),
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    log.info("tiny backbone (%d params) written to %s", sum(p.numel() for p in model.parameters()), directory)
    return directory


def load_backbone(name_or_path: str | Path, dtype: torch.dtype | None = None) -> tuple[nn.Module, object]:
    """(inner SmolVLM model without LM head, tokenizer) from a local directory or hub id."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    path = Path(name_or_path)
    if path.exists() and not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path / 'config.json'} is missing: {path} is not a saved backbone")
    full = AutoModelForImageTextToText.from_pretrained(str(name_or_path), dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    return full.model, tokenizer


def n_image_tokens(backbone_config) -> int:
    """Image tokens the connector emits per image: (image/patch)^2 / scale_factor^2 (16 for the tiny one)."""
    v = backbone_config.vision_config
    return (v.image_size // v.patch_size) ** 2 // (backbone_config.scale_factor ** 2)


def resolve_backbone(name: str, tiny_dir: str | Path) -> str:
    """"tiny" -> the offline tiny backbone in `tiny_dir` (built once, over every MetaWorld instruction);
    anything else (hub id or local path) is passed to from_pretrained unchanged."""
    if name != "tiny":
        return name
    tiny_dir = Path(tiny_dir)
    from accelerate import PartialState

    # Under `accelerate launch` the main process builds it and the others wait, then find it built
    # (transformers writes config.json from the main process only: another rank's copy would lack it).
    # Built aside and renamed into place, so nothing ever loads a half-written directory.
    with PartialState().main_process_first():
        if not (tiny_dir / "config.json").is_file():
            import os
            import tempfile

            from vla.data.metaworld_env import task_instructions

            tiny_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{tiny_dir.name}.tmp-", dir=tiny_dir.parent))
            build_tiny_backbone(tmp, texts=task_instructions())
            os.rename(tmp, tiny_dir)
    return str(tiny_dir)
