"""The VLA policy (LeRobot policy type `vla_latent`): configuration / modeling / processor, the backbone
loader and heads, stage-2 pretraining and stage-3 finetuning. Importing it registers the policy type."""

from vla.policy.configuration_vla import POLICY_TYPE, VLAConfig
from vla.policy.modeling_vla import VLAPolicy

__all__ = ["POLICY_TYPE", "VLAConfig", "VLAPolicy"]
