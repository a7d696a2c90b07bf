"""``gr2 prepare custom --ray`` end to end on a Ray cluster started as data_prep/README.md says (``ray start``,
``RAY_ADDRESS``): the folder is byte for byte the one of a run without Ray.

Its own module: ``ray stop`` stops every Ray process of the machine, an in-process test cluster included.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.synthetic import write_synthetic_files

pytest.importorskip("ray")
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster_env(tmp_path_factory):
    """A 2-CPU head node in its own processes (a real cluster of one node), stopped afterwards; yields the
    environment a driver needs to join it: its address and its token (Ray >= 2.59 authenticates by default)."""
    port = _free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    temp = tmp_path_factory.mktemp("r")  # Ray's socket paths are capped at 107 characters
    start = [str(BIN / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
             f"--temp-dir={temp}", "--disable-usage-stats"]  # fmt: skip
    subprocess.run(start, check=True, capture_output=True, text=True, timeout=180, env={**os.environ, **auth})
    try:
        yield {**auth, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=120)


def test_prepare_custom_on_a_started_cluster_writes_the_local_bytes(tmp_path, cluster_env):
    files = write_synthetic_files(tmp_path / "in", 300, 150, 5000, seed=5)
    argv = [str(BIN / "gr2"), "prepare", "custom", "--name", "c"]
    argv += [f"--{k.replace('_', '-')}={v}" for k, v in files.items()]
    local = subprocess.run([*argv, "--out", str(tmp_path / "local")], capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stdout + local.stderr
    env = {**os.environ, **cluster_env}
    spread = subprocess.run([*argv, "--ray", "--out", str(tmp_path / "ray")], capture_output=True, text=True,
                            env=env, timeout=600)  # fmt: skip
    assert spread.returncode == 0, spread.stdout + spread.stderr
    assert cluster_env["RAY_ADDRESS"] in spread.stdout + spread.stderr  # it joined the started cluster, not a local one
    names = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.*"))
    assert len(names) == 9
    for name in names:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
