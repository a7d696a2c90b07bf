"""Loaded by ``import verl`` through the ``verl.plugins`` entry point (see pyproject.toml).

Importing it must stay cheap and side-effect free apart from registrations veRL looks up by name.
With ``VERL_PLATFORM=cpu`` it registers the CPU platform (``cpu_platform``) and the CPU rollout
(``cpu_rollout``, ``actor_rollout_ref.rollout.name=cpu``); otherwise it imports neither, so GPU runs
never see them.

veRL loads plugins inside ``try: ... except Exception: logger.debug(...)``: an exception raised here
would vanish and the run would fail later with a puzzling "Unknown rollout mode: cpu". A failed
registration is therefore logged at ERROR, with its traceback, before veRL swallows it.
"""

import logging
import os

if os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu":
    try:
        from gr2_verl.verl_ext import cpu_platform, cpu_rollout

        cpu_platform.install()
        cpu_rollout.register()
    except Exception:  # re-raised: logged only because veRL hides plugin errors at debug level
        logging.getLogger(__name__).exception("gr2_verl: VERL_PLATFORM=cpu, but the CPU backends failed to register")
        raise
