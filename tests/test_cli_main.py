"""The ``gr2`` entry point: cheap to start, one error path for every subcommand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gr2_verl.cli.main import main


def test_help_and_validate_do_not_import_torch(tmp_path):
    """`gr2 --help` and `gr2 validate` answer in a blink: building the parser must not pull torch in."""
    code = (
        "import sys\n"
        "from gr2_verl.cli.main import build_parser, main\n"
        "build_parser()\n"
        f"main(['validate', {str(tmp_path / 'missing.parquet')!r}])\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "missing.parquet"),  # no such file
        (lambda p: p.write_bytes(b"a,b\n1,2\n"), "missing.parquet"),  # a CSV given as parquet
        (lambda p: p.mkdir(), "missing.parquet"),  # a directory
    ],
    ids=["missing", "csv as parquet", "directory"],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys, make, message):
    path = tmp_path / "missing.parquet"
    make(path)
    assert main(["eval", "--test", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gr2 eval: error: ") and message in err[0]
    assert "Traceback" not in err[0]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(OSError):
        main(["--debug", "eval", "--test", str(tmp_path / "missing.parquet")])
    with pytest.raises(OSError):
        main(["eval", "--test", str(tmp_path / "missing.parquet"), "--debug"])


def test_version(capsys):
    from gr2_verl import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"gr2-verl {__version__}"
