"""Quality figures of a SID assignment: uniqueness, collisions, per-level usage and perplexity."""

from __future__ import annotations

import numpy as np

from gr2_verl.sid.unique import prefix_keys, row_keys
from gr2_verl.types import LEVEL_NAMES


def code_report(codes: np.ndarray, codebook_size: int) -> dict:
    """JSON-able figures for ``codes [n, L]``.

    uniqueness = share of items whose full code tuple no other item has; perplexity of a level =
    exp(entropy of its code distribution), C when codes are used uniformly, 1 when one code takes all.
    """
    n, levels = codes.shape
    _, inverse, counts = np.unique(row_keys(codes, codebook_size), return_inverse=True, return_counts=True)
    per_item = counts[inverse.reshape(-1)]
    per_level = []
    for level in range(levels):
        freq = np.bincount(codes[:, level], minlength=codebook_size) / max(n, 1)
        nz = freq[freq > 0]
        per_level.append({
            "level": LEVEL_NAMES[level],
            "codes_used": int((freq > 0).sum()),
            "usage": float((freq > 0).mean()),
            "perplexity": float(np.exp(-(nz * np.log(nz)).sum())),
        })
    _, prefix_counts = np.unique(prefix_keys(codes, codebook_size), return_counts=True)
    return {
        "items": int(n),
        "levels": int(levels),
        "codebook_size": int(codebook_size),
        "uniqueness": float((per_item == 1).mean()) if n else 0.0,
        "unique_sids": int(len(counts)),
        "collisions": {
            "colliding_items": int((per_item > 1).sum()),
            "shared_sids": int((counts > 1).sum()),
            "max_items_per_sid": int(counts.max()) if n else 0,
        },
        "prefixes": {
            "distinct": int(len(prefix_counts)),
            "max_items_per_prefix": int(prefix_counts.max()) if n else 0,
            "over_capacity": int((prefix_counts > codebook_size).sum()),
        },
        "per_level": per_level,
    }


def report_markdown(report: dict) -> str:
    """A short human-readable summary of a ``fit_codes`` / ``code_report`` report."""
    lines = [
        f"# SID report ({report.get('method', 'codes')})",
        "",
        f"- items: {report['items']}, levels x codes: {report['levels']} x {report['codebook_size']}",
        f"- uniqueness: {report['uniqueness']:.4%} ({report['unique_sids']} distinct SIDs)",
        f"- colliding items: {report['collisions']['colliding_items']}, "
        f"largest shared SID: {report['collisions']['max_items_per_sid']} items",
    ]
    if "reconstruction_mse" in report:
        lines.append(f"- reconstruction error (mean squared L2): {report['reconstruction_mse']:.5f}")
    if "fit_seconds" in report:
        lines.append(f"- fit time: {report['fit_seconds']:.1f} s, assign time: {report['assign_seconds']:.2f} s")
    lines += ["", "| level | codes used | usage | perplexity |", "|---|---|---|---|"]
    for row in report["per_level"]:
        lines.append(f"| {row['level']} | {row['codes_used']} | {row['usage']:.3f} | {row['perplexity']:.1f} |")
    return "\n".join(lines) + "\n"
