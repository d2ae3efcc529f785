"""early_stopping plugins."""
