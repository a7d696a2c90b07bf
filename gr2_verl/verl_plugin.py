"""Loaded by ``import verl`` through the ``verl.plugins`` entry point (see pyproject.toml).

Importing it must stay cheap and side-effect free apart from registrations veRL looks up by name.
"""
