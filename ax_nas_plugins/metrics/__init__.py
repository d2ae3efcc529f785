"""Metric plugins: TensorBoard curves read incrementally, latency and model size.

The public classes live in :mod:`ax_nas_plugins.metrics.tensorboard` and
:mod:`ax_nas_plugins.metrics.model`; they are registered by entry point
(``tensorboard``, ``latency``, ``num_params``, ``model_size_bytes``). Nothing
is imported here, so listing plugins stays cheap.
"""
