"""The NAS demo's trainer and TorchX component (the blog post's MNIST MLP)."""
