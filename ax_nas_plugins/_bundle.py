"""The pack's Ax ``RegistryBundle``: Ax's own, plus load-time rules for strategies.

The rule: :class:`PluginRegistryBundle` is an Ax ``RegistryBundle`` whose SQL
``decoder`` is a :class:`StrategyRulesDecoder`, so whoever decodes through the
bundle (``DBSettings(decoder=bundle.decoder)``, ``anp.db_settings``, hence
``Orchestrator.from_stored_experiment``) gets every loaded generation
strategy with the rules that plugins declared (see
:class:`ax_nas_plugins.storage.StorageExtension`) applied again. Both classes
extend Ax through its public API: ``RegistryBundleBase.decoder`` is an
abstract property meant to be implemented, ``Decoder.generation_strategy_from_sqa``
a public method. This module imports Ax; :mod:`ax_nas_plugins.storage`
imports it only when a bundle is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.storage.registry_bundle import RegistryBundle
from ax.storage.sqa_store.decoder import Decoder
from ax.storage.sqa_store.sqa_config import SQAConfig

StrategyRule = Callable[[GenerationStrategy], Any]


def apply_strategy_rules(
    strategy: GenerationStrategy, rules: Sequence[StrategyRule]
) -> GenerationStrategy:
    """Call every rule on a loaded strategy, in declaration order."""
    for rule in rules:
        rule(strategy)
    return strategy


class StrategyRulesDecoder(Decoder):
    """Ax's SQL ``Decoder`` that applies load-time rules to decoded strategies."""

    def __init__(self, config: SQAConfig, rules: Sequence[StrategyRule]) -> None:
        super().__init__(config)
        self.strategy_rules = tuple(rules)

    def generation_strategy_from_sqa(self, *args: Any, **kwargs: Any) -> Any:
        strategy = super().generation_strategy_from_sqa(*args, **kwargs)
        return apply_strategy_rules(strategy, self.strategy_rules)


class PluginRegistryBundle(RegistryBundle):
    """``RegistryBundle`` whose ``decoder`` re-applies the plugins' strategy rules."""

    def __init__(
        self, *, strategy_rules: Sequence[StrategyRule] = (), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.strategy_rules: tuple[StrategyRule, ...] = tuple(strategy_rules)

    @cached_property
    def decoder(self) -> Decoder:  # type: ignore[override]
        return StrategyRulesDecoder(self.sqa_config, self.strategy_rules)

    def apply_strategy_rules(self, strategy: GenerationStrategy) -> GenerationStrategy:
        """Apply the rules to a strategy loaded some other way (JSON, Ax's loader)."""
        return apply_strategy_rules(strategy, self.strategy_rules)
