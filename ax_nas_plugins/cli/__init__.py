"""The ``ax-nas`` command line. Sub-commands import heavy libraries only when run."""
