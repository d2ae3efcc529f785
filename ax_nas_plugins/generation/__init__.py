"""Generation-strategy presets: factories returning an Ax ``GenerationStrategy``."""
