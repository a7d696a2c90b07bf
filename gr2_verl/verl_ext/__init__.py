"""Loaded by ``import verl`` through the ``verl.plugins`` entry point (see pyproject.toml).

Importing it must stay cheap and side-effect free apart from registrations veRL looks up by name.
The CPU platform (``gr2_verl.verl_ext.cpu_platform``) is registered only when ``VERL_PLATFORM=cpu`` asks for
it, so GPU runs never import it.
"""

import os

if os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu":
    from gr2_verl.verl_ext.cpu_platform import install

    install()
