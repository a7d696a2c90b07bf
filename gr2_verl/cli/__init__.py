"""The ``gr2`` command line: one file per subcommand, each with ``register()`` and ``run(args) -> int``."""
