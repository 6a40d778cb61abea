"""What every model and stage shares: checkpoints, config composition, the training loop, splits, device,
the action queue (numpy only: the robot node imports it without torch)."""
