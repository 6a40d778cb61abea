"""Our VLA policy as a LeRobot policy type (`vla_latent`).

`lerobot-train --policy.type=vla_latent --policy.discover_packages_path=vla.lerobot_plugin ...`
imports this package (and every submodule), which registers the config class with LeRobot.
"""

from .configuration_vla_latent import POLICY_TYPE, VLALatentConfig

__all__ = ["POLICY_TYPE", "VLALatentConfig"]
