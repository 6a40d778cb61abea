"""Latent-action VLA stack: action-free video -> latent actions -> VLA pretraining -> LoRA action finetuning."""

__version__ = "0.1.0"
