"""Plain PyTorch training: losses, one epoch, validation, early stopping, checkpoints (no Ray)."""
