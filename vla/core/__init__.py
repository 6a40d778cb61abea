"""What every model and stage shares: checkpoints, config composition, the training loop, splits, device."""
