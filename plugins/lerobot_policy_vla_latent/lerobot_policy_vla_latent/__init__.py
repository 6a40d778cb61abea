"""Imported by LeRobot at start-up (its plugin discovery): registers policy type `vla_latent`.

The policy is vla.policy's VLAPolicy; this package only makes LeRobot find it.
"""

from vla.policy import POLICY_TYPE, VLAConfig

__all__ = ["POLICY_TYPE", "VLAConfig"]
