"""VLAPolicy: a SmolVLM-family backbone + latent-action, pseudo-action and action-chunk heads.

One checkpoint directory (vla.core.checkpoint: safetensors + JSON, sha256 manifest, atomic) holds
everything needed to rebuild the policy offline: PolicyConfig, the backbone's architecture config,
the tokenizer (as JSON), normalisation stats, and every weight (backbone, LoRA, heads).
`adapter/` next to it is the LoRA adapter in peft's own format, for use outside this project.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vla.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from vla.policy.backbone import load_backbone, n_image_tokens
from vla.policy.configuration import PolicyConfig
from vla.policy.heads import ActionChunkHead, LatentActionHead, PseudoActionHead, make_pool
from vla.policy.processor import PolicyProcessor

log = logging.getLogger(__name__)

KIND = "vla_policy"


def _tokenizer_to_json(tokenizer) -> dict:
    from tokenizers import Tokenizer

    # The vocabulary and rules, not the truncation/padding its last call left set (the processor passes those
    # per call): the same policy then saves the same config before and after it has tokenized anything.
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation(), backend.no_padding()
    return {"json": backend.to_str(),
            "special": {k: getattr(tokenizer, k) for k in ("pad_token", "unk_token", "bos_token", "eos_token")}}


def _tokenizer_from_json(d: dict):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    special = {k: v for k, v in d["special"].items() if v is not None}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(d["json"]), **special)


def random_shift(pixels: torch.Tensor, pad: int) -> torch.Tensor:
    """DrQ's augmentation: each image shifted by up to `pad` pixels, edges replicated. (B, N, C, H, W)."""
    b, n, c, h, w = pixels.shape
    x = F.pad(pixels.reshape(b * n, c, h, w), (pad,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, b * n)).tolist()
    return torch.stack([x[i, :, y:y + h, z:z + w] for i, (y, z) in enumerate(zip(dy, dx))]).view(b, n, c, h, w)


class VLAPolicy(nn.Module):
    def __init__(self, config: PolicyConfig, backbone: nn.Module, tokenizer, stats: dict | None = None):
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.backbone_config = backbone.config
        self.lora_applied = False
        self.processor = PolicyProcessor(tokenizer, backbone.config.image_token_id, n_image_tokens(backbone.config),
                                         config.image_size, config.max_text_tokens, stats, config.normalization)
        self.pool = make_pool(config.pool, backbone.config.text_config.hidden_size, config.pool_queries)
        d = self.feature_dim
        self.latent_head = LatentActionHead(d, config.n_tokens, config.codebook_size, config.head_hidden)
        self.pseudo_action_head = PseudoActionHead(d, self.pseudo_action_dim, config.head_hidden)
        self.action_head = ActionChunkHead(self.action_input_dim, config.state_dim, config.chunk_size,
                                           config.action_dim, config.head_hidden)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_backbone(cls, config: PolicyConfig, backbone_path: str | Path | None = None) -> "VLAPolicy":
        """A fresh policy on a pretrained (or tiny random) backbone loaded with from_pretrained."""
        backbone, tokenizer = load_backbone(backbone_path or config.backbone)
        return cls(config, backbone, tokenizer)

    def apply_lora(self) -> None:
        """Freeze the backbone and add LoRA adapters (peft), unless full finetuning is configured."""
        if self.config.full_finetune or self.lora_applied:
            return
        from peft import LoraConfig, get_peft_model

        targets = self.config.lora_targets
        lora = LoraConfig(r=self.config.lora_r, lora_alpha=self.config.lora_alpha,
                          lora_dropout=self.config.lora_dropout,
                          target_modules=targets[0] if targets == ["all-linear"] else targets)
        self.backbone = get_peft_model(self.backbone, lora)
        self.lora_applied = True

    @property
    def pseudo_action_dim(self) -> int:
        """What stage 2's IDM head predicts: the video's robot's action, which need not be the finetuning robot's."""
        return self.config.pretrain_action_dim or self.config.action_dim

    @property
    def feature_dim(self) -> int:
        return self.pool.out_dim

    @property
    def action_input_dim(self) -> int:
        if not self.config.action_reads_pretrain_head:
            return self.feature_dim
        c = self.config
        return self.feature_dim + (c.n_tokens * c.codebook_size if c.pretrain_target == "latent" else self.pseudo_action_dim)

    def action_inputs(self, feats: torch.Tensor) -> torch.Tensor:
        """What the action head reads: the pooled features and, with `action_reads_pretrain_head`, the stage-2
        head's prediction (latent-code probabilities, or the IDM's pseudo-action), so that with few demos the
        head can learn latent action -> action on top of what pretraining learned (UniVLA's action decoder)."""
        if not self.config.action_reads_pretrain_head:
            return feats
        if self.config.pretrain_target == "latent":
            prior = self.latent_head(feats).softmax(-1).flatten(1)
        else:
            prior = self.pseudo_action_head(feats)
        return torch.cat([feats, prior], dim=-1)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---- forward ------------------------------------------------------------------------------
    def features(self, inputs: dict) -> torch.Tensor:
        """The decoder's last hidden states over image + instruction tokens, pooled: (B, feature_dim)."""
        pixels = inputs["pixel_values"]
        if self.training and self.config.random_shift:
            pixels = random_shift(pixels, self.config.random_shift)
        out = self.backbone(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                            pixel_values=pixels.to(self.backbone_dtype()), use_cache=False)
        return self.pool(out.last_hidden_state.float(), inputs["attention_mask"])

    def backbone_dtype(self) -> torch.dtype:
        return next(self.backbone.parameters()).dtype

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Loss + logs. The target in the batch picks the stage: `latent_actions`, `idm_action` or `action`."""
        inputs = self.processor.preprocess(batch, self.device)
        feats = self.features(inputs).float()
        if "action" in batch:
            target = self.processor.normalizer("action").normalize(torch.as_tensor(batch["action"]).to(self.device).float())
            pred = self.action_head(self.action_inputs(feats), inputs["state"])
            err = F.mse_loss(pred, target, reduction="none").mean(-1)  # (B, H)
            if "action_is_pad" in batch:  # chunks running past the episode end carry padding
                keep = (~torch.as_tensor(batch["action_is_pad"]).to(self.device).bool()).float()
                loss = (err * keep).sum() / keep.sum().clamp_min(1.0)
            else:
                loss = err.mean()
            return loss, {"action_mse": loss.item()}
        if "latent_actions" in batch:
            codes = torch.as_tensor(batch["latent_actions"]).to(self.device).long()
            logits = self.latent_head(feats)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))
            acc = (logits.argmax(-1) == codes).float().mean().item()
            return loss, {"latent_ce": loss.item(), "latent_acc": acc}
        if "idm_action" in batch:
            target = self.processor.normalizer("idm_action").normalize(
                torch.as_tensor(batch["idm_action"]).to(self.device).float())
            loss = F.mse_loss(self.pseudo_action_head(feats), target)
            return loss, {"idm_mse": loss.item()}
        raise KeyError(f"batch has no training target (one of action / latent_actions / idm_action): {sorted(batch)}")

    @torch.no_grad()
    def predict_latent_codes(self, batch: dict) -> torch.Tensor:
        inputs = self.processor.preprocess(batch, self.device)
        return self.latent_head(self.features(inputs).float()).argmax(-1)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict) -> torch.Tensor:
        """(B, H, action_dim) actions in robot units from {"image", "state", "instruction"}."""
        inputs = self.processor.preprocess(batch, self.device)
        pred = self.action_head(self.action_inputs(self.features(inputs).float()), inputs["state"])
        return self.processor.postprocess(pred)

    # ---- checkpoints --------------------------------------------------------------------------
    def checkpoint_config(self) -> dict:
        return {"kind": KIND, "policy": self.config.to_dict(), "backbone_config": self.backbone_config.to_dict(),
                "tokenizer": _tokenizer_to_json(self.processor.tokenizer), "stats": self.processor.stats,
                "lora_applied": self.lora_applied}

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.state_dict().items()}

    def save_pretrained(self, directory: str | Path, train_state: dict | None = None) -> Path:
        directory = save_checkpoint(directory, weights=self.checkpoint_weights(), config=self.checkpoint_config(),
                                    train_state=train_state)
        if self.lora_applied:
            self.backbone.save_pretrained(str(directory / "adapter"))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, expected: dict | None = None) -> "VLAPolicy":
        """Rebuild from a checkpoint dir. `expected` (PolicyConfig fields) must match the saved config."""
        from transformers import CONFIG_MAPPING, AutoModel

        ckpt = load_checkpoint(directory, expected_kind=KIND, with_train_state=False)
        cfgd = ckpt.config
        for key in ("policy", "backbone_config", "tokenizer"):
            if key not in cfgd:
                raise CheckpointError(f"{Path(directory) / 'config.json'} lacks {key!r}: not a VLAPolicy checkpoint")
        config = PolicyConfig.from_dict(cfgd["policy"])
        if expected:
            diff = {k: (cfgd["policy"].get(k), v) for k, v in expected.items() if cfgd["policy"].get(k) != v}
            if diff:
                raise CheckpointError(f"{Path(directory) / 'config.json'} does not match the requested config: "
                                      + ", ".join(f"{k}: saved={a!r} requested={b!r}" for k, (a, b) in diff.items()))
        bcfg = cfgd["backbone_config"]
        backbone = AutoModel.from_config(CONFIG_MAPPING[bcfg["model_type"]].from_dict(bcfg))
        policy = cls(config, backbone, _tokenizer_from_json(cfgd["tokenizer"]), cfgd.get("stats") or {})
        if cfgd.get("lora_applied"):
            policy.apply_lora()
        try:
            policy.load_state_dict(ckpt.weights, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"{Path(directory) / 'model.safetensors'} does not fit the saved config: {e}") from e
        return policy
