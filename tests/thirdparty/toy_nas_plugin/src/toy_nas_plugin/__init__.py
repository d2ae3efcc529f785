"""Toy third-party plugins for ax-nas-plugins' tests."""
