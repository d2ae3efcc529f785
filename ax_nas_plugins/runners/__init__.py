"""Runner plugins: each trial a TorchX app, JSON-only run metadata, resumable.

- :mod:`~ax_nas_plugins.runners.base`: ``TorchXJobRunner``, the runner every
  preset subclasses (component call, submission, status table, grace period,
  ``poll_exception``, confirmed ``stop``, hooks once per trial).
- :mod:`~ax_nas_plugins.runners.local`: ``torchx_local`` (TorchX ``local_cwd``
  semantics; jobs survive a SIGKILL of the orchestrator).
- :mod:`~ax_nas_plugins.runners.docker`: ``torchx_docker`` (TorchX
  ``local_docker``, no network by default).
- :mod:`~ax_nas_plugins.runners.schedulers`: the TorchX schedulers they use.

Nothing is imported here, so listing plugins stays cheap; see docs/runners.md.
"""
