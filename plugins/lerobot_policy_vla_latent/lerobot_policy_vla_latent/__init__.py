"""Imported by LeRobot at start-up (its plugin discovery): registers policy type `vla_latent`.

The policy's code lives in vla.lerobot_plugin; this package only makes LeRobot find it.
"""

from vla.lerobot_plugin import POLICY_TYPE, VLALatentConfig

__all__ = ["POLICY_TYPE", "VLALatentConfig"]
