"""runners plugins."""
