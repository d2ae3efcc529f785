"""TorchX schedulers that this pack adds (used through TorchX's own ``Runner``)."""
