"""Where ``gr2 prepare custom``'s memory goes: resident memory sampled every 0.5 s, peak per phase.

Runs the command in this process on a ``benchmarks/prepare_speed.py`` case's synthetic files (generated first,
not timed), marking when each phase starts: read (loading, dropping repeats, k-core, time sort and split),
pre-ranker (fits and top-K), metrics (candidate metrics and the shards' sizes), write (every output file).
Also glibc's heap (``mallinfo2``: its size and the part that is free but kept) and arrow's pool at each
phase's peak, which tell arrays in use from memory an allocator holds. Peak RSS is ``ru_maxrss``; a phase's
peak is the largest 0.5 s sample in it (a shorter spike can be missed).

    .venv/bin/python benchmarks/prepare_memory.py --case custom-10m
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from prepare_speed import CUSTOM  # noqa: E402

PHASES = {  # (module, function) whose call starts the phase
    "pre-ranker": ("data_prep.pipeline", "candidate_lists"),
    "metrics": ("data_prep.pipeline", "_candidate_metrics"),
    "write": ("data_prep.outputs", "write_outputs"),
}


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


def _sampler(samples: list[dict], stop: threading.Event, start: float) -> None:
    """Append RSS, heap and arrow figures (MB) every 0.5 s until ``stop`` (``t``: seconds since ``start``)."""
    import pyarrow as pa

    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
        mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):  # not glibc >= 2.33: RSS and arrow only
        mallinfo2 = None
    while not stop.is_set():
        with open("/proc/self/statm") as f:
            row = {"t": round(time.perf_counter() - start, 1), "rss": int(f.read().split()[1]) * 4096 >> 20}
        if mallinfo2 is not None:
            info = mallinfo2()
            row |= {"heap": info.arena >> 20, "heap_free": info.fordblks >> 20, "mmapped": info.hblkhd >> 20}
        samples.append(row | {"arrow": pa.total_allocated_bytes() >> 20})
        stop.wait(0.5)


def run(case: str) -> dict:
    import importlib

    from gr2_verl.cli.main import main

    users, items, rows = CUSTOM[case]
    with tempfile.TemporaryDirectory() as tmp:
        # generated in a child process: its arrays would otherwise count in this process's peak
        make = "import sys; from data_prep.synthetic import write_synthetic_files as w; w(sys.argv[1], *map(int, sys.argv[2:]))"  # noqa: E501
        subprocess.run([sys.executable, "-c", make, f"{tmp}/in", str(users), str(items), str(rows)], check=True)
        files = {
            "interactions": f"{tmp}/in/log.csv",
            "items": f"{tmp}/in/items.jsonl",
            "sid_map": f"{tmp}/in/sid_map.json",
        }
        samples: list[dict] = []
        marks = [("read", 0.0)]
        stop, start = threading.Event(), time.perf_counter()
        thread = threading.Thread(target=_sampler, args=(samples, stop, start), daemon=True)

        def marked(phase: str, function):
            def call(*args, **kwargs):
                marks.append((phase, round(time.perf_counter() - start, 1)))
                return function(*args, **kwargs)

            return call

        for phase, (module, name) in PHASES.items():
            mod = importlib.import_module(module)
            setattr(mod, name, marked(phase, getattr(mod, name)))
        out = Path(tmp) / "out"
        argv = ["prepare", "custom", "--name", case, "--out", str(out)]
        argv += [f"--{flag.replace('_', '-')}={path}" for flag, path in files.items()]
        thread.start()
        code = main(argv)
        wall = time.perf_counter() - start
        stop.set()
        thread.join()
        if code != 0:
            raise RuntimeError(f"gr2 {' '.join(argv)} exited with {code}")
        summary = json.loads((out / "summary.json").read_text())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    bounds = [t for _, t in marks[1:]] + [float("inf")]
    phases = {}
    for (phase, begin), end in zip(marks, bounds, strict=True):
        inside = [s for s in samples if begin <= s["t"] < end] or [samples[-1]]
        phases[phase] = max(inside, key=lambda s: s["rss"]) | {"starts_at_s": begin}
    return {
        "case": case,
        "interactions": summary["log"]["interactions"],
        "seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "phases": phases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=sorted(CUSTOM), required=True)
    parser.add_argument("--json", default="benchmarks/results/prepare_memory.json", help="where to write the figures")
    args = parser.parse_args()
    result = run(args.case)
    print(f"{result['case']}: {result['interactions']} interactions, {result['seconds']} s wall, "
          f"{result['cpu_seconds']} CPU s, peak RSS {result['peak_rss_mb']} MB")  # fmt: skip
    print("| phase | starts at s | peak RSS MB | glibc heap MB (free in it) | glibc mmapped MB | arrow MB |")
    print("|---|---|---|---|---|---|")
    for phase, p in result["phases"].items():
        print(f"| {phase} | {p['starts_at_s']} | {p['rss']} | {p.get('heap', 'n/a')} ({p.get('heap_free', 'n/a')}) "
              f"| {p.get('mmapped', 'n/a')} | {p['arrow']} |")  # fmt: skip
    path = Path(args.json)
    stored = [r for r in json.loads(path.read_text()) if r["case"] != args.case] if path.exists() else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored + [result], indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
