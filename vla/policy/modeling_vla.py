"""VLAPolicy: a SmolVLM-family backbone + latent-action, pseudo-action and action-chunk heads, as LeRobot's
PreTrainedPolicy (type `vla_latent`).

The network sees normalised state and predicts a normalised action chunk; LeRobot's processors
(processor_vla) normalise and un-normalise around it, for our stages, our runtime, lerobot-train and
lerobot-eval alike. Batches use LeRobot's keys: the cameras (config.cameras), `observation.state`,
`task`, and the target: `action` (+ `action_is_pad`), stage 2's `latent_actions` or `idm_action`.

One checkpoint directory (vla.core.checkpoint: sha256 manifest, atomic) holds everything needed to rebuild
the policy offline, in LeRobot's layout: config.json (LeRobot's config of this policy), model.safetensors
(backbone, LoRA and heads), the pre/post processors with their stats (a finetuned policy), and backbone.json:
the backbone's architecture config, its tokenizer and whether LoRA is applied, which LeRobot's config
cannot hold. `adapter/` next to it is the LoRA adapter in peft's own format, for use outside this project.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import ACTION, OBS_STATE

from vla.core.checkpoint import (CheckpointError, check_config_matches, load_checkpoint, load_weights,
                                 save_checkpoint)
from vla.policy.backbone import build_tiny_backbone, load_backbone, n_image_tokens
from vla.policy.configuration_vla import POLICY_TYPE, VLAConfig
from vla.policy.heads import ActionChunkHead, LatentActionHead, PseudoActionHead, make_pool
from vla.policy.processor_vla import InputEncoder
from vla.core.action_queue import ActionQueue

log = logging.getLogger(__name__)

BACKBONE_FILE = "backbone.json"
# What a network is built from: `init_from` takes them from the checkpoint it starts from.
NETWORK_FIELDS = ("backbone", "image_size", "chunk_size", "n_tokens", "codebook_size", "head_hidden",
                  "max_text_tokens", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "full_finetune", "pool",
                  "pool_queries", "action_reads_pretrain_head", "pretrain_target", "pretrain_action_dim")


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




def backbone_from_config(config: dict):
    """A backbone with random weights from its saved architecture config (the checkpoint's weights follow)."""
    from transformers import CONFIG_MAPPING, AutoModel

    return AutoModel.from_config(CONFIG_MAPPING[config["model_type"]].from_dict(config))


def _tiny_backbone(tasks: list[str]):
    """The tiny random backbone (lerobot-train's default); its tokenizer knows every MetaWorld instruction +
    `tasks`. transformers only writes `save_pretrained` files on rank 0 of an initialised process group, so
    under DDP rank 0 builds the backbone and every rank loads rank 0's copy (DDP then syncs the weights anyway)."""
    from vla.data.metaworld_env import task_instructions

    dist = torch.distributed
    multi = dist.is_available() and dist.is_initialized()
    with tempfile.TemporaryDirectory(prefix="vla_tiny_backbone_") as tmp:
        where = [tmp]
        if multi:
            dist.broadcast_object_list(where, src=0)
        if not multi or dist.get_rank() == 0:
            build_tiny_backbone(where[0], texts=task_instructions() + tasks)
        if multi:
            dist.barrier()
        backbone, tokenizer = load_backbone(where[0])
        if multi:
            dist.barrier()  # rank 0 removes its directory only after every rank has loaded from it
    return backbone, tokenizer


def checkpoint_directory(path_or_repo: str | Path, revision: str | None = None) -> Path:
    """A local checkpoint directory, or a hub repo's, downloaded (or found in the cache when offline)."""
    if Path(path_or_repo).is_dir():
        return Path(path_or_repo)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path_or_repo), revision=revision))
    except Exception as e:  # not a repo id, offline without a cached copy, no such repo: all mean "not found"
        raise CheckpointError(f"checkpoint directory not found: {path_or_repo} "
                              f"(nor on the hub: {type(e).__name__})") from e


def _task_strings(dataset_meta) -> list[str]:
    tasks = getattr(dataset_meta, "tasks", None)
    return [] if tasks is None else [str(t) for t in tasks.index]


class VLAPolicy(PreTrainedPolicy):
    config_class = VLAConfig
    name = POLICY_TYPE

    def __init__(self, config: VLAConfig, backbone=None, tokenizer=None, dataset_meta=None, **kwargs):
        """With a backbone: our stages' network (from_backbone / from_pretrained). Without one, LeRobot's
        make_policy: sizes and cameras from the dataset's features, the network from `init_from`, the
        configured backbone or the tiny one, LoRA applied unless full_finetune."""
        super().__init__(config)
        source, built_by_lerobot = None, backbone is None
        if built_by_lerobot:
            config.fields_from_features()
            if config.init_from:
                source = self._init_source(config)
                backbone, tokenizer = source.backbone, source.encoder.tokenizer
            elif config.backbone == "tiny":
                backbone, tokenizer = _tiny_backbone(_task_strings(dataset_meta))
            else:
                backbone, tokenizer = load_backbone(config.backbone)
        self.backbone = backbone
        self.backbone_config = source.backbone_config if source else backbone.config
        self.lora_applied = bool(source and source.lora_applied)
        bcfg = self.backbone_config
        self.encoder = InputEncoder(tokenizer, bcfg.image_token_id, n_image_tokens(bcfg), config.image_size,
                                    config.max_text_tokens)
        self.pool = make_pool(config.pool, bcfg.text_config.hidden_size, config.pool_queries)
        d = self.feature_dim
        self.latent_head = LatentActionHead(d, config.n_tokens, config.codebook_size, config.head_hidden)
        self.pseudo_action_head = PseudoActionHead(d, self.pseudo_action_dim, config.head_hidden)
        self.action_head = ActionChunkHead(self.action_input_dim, config.state_dim, config.chunk_size,
                                           config.action_dim, config.head_hidden)
        if source is not None:
            load_weights(self, source.state_dict(), Path(config.init_from))
        if built_by_lerobot:  # lerobot-train finetunes as LAPA does (our stage 3 applies LoRA itself)
            self.apply_lora()
        self.reset()

    @staticmethod
    def _init_source(config: VLAConfig) -> "VLAPolicy":
        """`init_from`: one of our checkpoints, whose network (and its architecture fields) this policy takes."""
        source = VLAPolicy.from_pretrained(config.init_from)
        saved = source.config
        sizes = lambda c: (c.chunk_size, c.action_dim, c.state_dim)  # noqa: E731
        if sizes(saved) != sizes(config):
            raise ValueError(
                f"vla_latent: init_from={config.init_from} was saved with chunk_size/action_dim/state_dim "
                f"{saved.chunk_size}/{saved.action_dim}/{saved.state_dim}, the dataset needs "
                f"{config.chunk_size}/{config.action_dim}/{config.state_dim}")
        for name in NETWORK_FIELDS:
            setattr(config, name, getattr(saved, name))
        return source

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_backbone(cls, config: VLAConfig, backbone_path: str | Path | None = None) -> "VLAPolicy":
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
        prior = c.n_tokens * c.codebook_size if c.pretrain_target == "latent" else self.pseudo_action_dim
        return self.feature_dim + prior

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

    def _features_of(self, batch: dict) -> torch.Tensor:
        """A LeRobot-keyed batch's cameras and task -> pooled features."""
        cameras = []
        for key in self.config.cameras:
            if key not in batch:
                raise KeyError(f"batch lacks camera {key!r} (the policy reads {self.config.cameras}); "
                               f"it has {sorted(batch)}")
            cameras.append(batch[key])
        task = batch.get("task", "")
        tasks = [task] * len(cameras[0]) if isinstance(task, str) else list(task)
        return self.features(self.encoder.encode(cameras, tasks, self.device)).float()

    def _state(self, batch: dict, n: int) -> torch.Tensor:
        return torch.as_tensor(batch[OBS_STATE]).to(self.device, torch.float32).reshape(n, -1)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Loss + logs. The target in the batch picks the stage: `action` (normalised), `latent_actions` or
        `idm_action` (normalised)."""
        feats = self._features_of(batch)
        if ACTION in batch:
            target = torch.as_tensor(batch[ACTION]).to(self.device).float()
            pred = self.action_head(self.action_inputs(feats), self._state(batch, len(feats)))
            err = F.mse_loss(pred, target, reduction="none").mean(-1)  # (B, H)
            if f"{ACTION}_is_pad" in batch:  # chunks running past the episode end carry padding
                keep = (~torch.as_tensor(batch[f"{ACTION}_is_pad"]).to(self.device).bool()).float()
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
            target = torch.as_tensor(batch["idm_action"]).to(self.device).float()
            loss = F.mse_loss(self.pseudo_action_head(feats), target)
            return loss, {"idm_mse": loss.item()}
        raise KeyError(f"batch has no training target (one of action / latent_actions / idm_action): {sorted(batch)}")

    @torch.no_grad()
    def predict_latent_codes(self, batch: dict) -> torch.Tensor:
        return self.latent_head(self._features_of(batch)).argmax(-1)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict, **kwargs) -> torch.Tensor:
        """(B, H, action_dim) normalised actions (the postprocessor turns them into robot units)."""
        feats = self._features_of(batch)
        return self.action_head(self.action_inputs(feats), self._state(batch, len(feats)))

    # ---- LeRobot's control interface -----------------------------------------------------------------
    def reset(self):
        """Called at every environment reset: drop the actions left from the last chunk."""
        self._action_queue = ActionQueue(maxlen=self.config.n_action_steps)

    @torch.no_grad()
    def select_action(self, batch: dict, **kwargs) -> torch.Tensor:
        self.eval()
        if len(self._action_queue) == 0:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))  # queue of (B, action_dim)
        return self._action_queue.pop()

    def get_optim_params(self) -> list[torch.Tensor]:
        # With LoRA the frozen backbone weights stay out of the optimiser.
        return [p for p in self.parameters() if p.requires_grad]

    # ---- checkpoints --------------------------------------------------------------------------
    def checkpoint_config(self) -> dict:
        """config.json: LeRobot's config of this policy."""
        return self.config.to_dict()

    def backbone_description(self) -> dict:
        return {"backbone_config": self.backbone_config.to_dict(),
                "tokenizer": _tokenizer_to_json(self.encoder.tokenizer), "lora_applied": self.lora_applied}

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.state_dict().items()}

    def write_files(self, directory: Path, processors=()) -> None:
        """What a checkpoint holds besides config and weights: backbone.json and the (pre, post) processors."""
        (directory / BACKBONE_FILE).write_text(json.dumps(self.backbone_description(), indent=2, sort_keys=True))
        for processor in processors or ():
            processor.save_pretrained(directory)

    def save_pretrained(self, save_directory: str | Path, *, train_state: dict | None = None, processors=None,
                        state_dict: dict[str, torch.Tensor] | None = None, **kwargs) -> Path:
        """One atomic checkpoint directory (see the module docstring); `processors` = (pre, post) are saved in
        it. lerobot-train calls this too, then writes its processors and train config beside it."""
        directory = save_checkpoint(save_directory, weights=state_dict or self.checkpoint_weights(),
                                    config=self.checkpoint_config(), train_state=train_state,
                                    write_more=lambda d: self.write_files(d, processors))
        if self.lora_applied:
            self.backbone.save_pretrained(str(directory / "adapter"))
        return directory

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path: str | Path, *, config: VLAConfig | None = None,
                        expected: dict | None = None, **kwargs) -> "VLAPolicy":
        """Rebuild from a checkpoint dir (ours or lerobot-train's; a hub id is downloaded first). `config`
        (lerobot-eval's, with its overrides) replaces the saved one; `expected` (config fields) must match it."""
        directory = checkpoint_directory(pretrained_name_or_path, kwargs.get("revision"))
        from vla.policy.legacy import is_legacy

        if is_legacy(directory):
            raise CheckpointError(f"{directory} was written by an older version of this policy: convert it with "
                                  f"`python -m vla.policy.legacy {directory} NEW_DIR` (or train it again)")
        ckpt = load_checkpoint(directory, expected_kind=POLICY_TYPE, with_train_state=False)
        if not (directory / BACKBONE_FILE).is_file():
            raise CheckpointError(f"{directory / BACKBONE_FILE} is missing: not a VLAPolicy checkpoint")
        config = config or VLAConfig.from_dict(ckpt.config)
        if expected:
            check_config_matches(directory, {k: getattr(config, k) for k in expected}, expected)
        described = json.loads((directory / BACKBONE_FILE).read_text())
        policy = cls(config, backbone_from_config(described["backbone_config"]),
                     _tokenizer_from_json(described["tokenizer"]))
        if described.get("lora_applied"):
            policy.apply_lora()
        load_weights(policy, ckpt.weights, directory)
        return policy.eval()
