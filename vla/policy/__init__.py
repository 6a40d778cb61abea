"""VLAPolicy: backbone loader, heads, pre/post-processing, stage-2 pretraining and stage-3 finetuning."""

from vla.policy.configuration import PolicyConfig
from vla.policy.modeling import VLAPolicy

__all__ = ["PolicyConfig", "VLAPolicy"]
