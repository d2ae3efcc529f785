"""A tiny real trainer and its TorchX component, for tests and benchmarks.

``trainer.py`` uses the standard library only (it also runs in a bare
Debian image with ``python3``); ``components.trainer`` wraps it as a TorchX
component that the runners call like any user component.
"""
