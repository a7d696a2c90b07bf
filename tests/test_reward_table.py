"""The reward table that the quickstart prints: it must show the hack and its fix."""

from __future__ import annotations

from gr2_verl.reward_table import reward_table, to_markdown


def test_table_shows_copying_pays_only_under_naive_format():
    rows = {r["answer"]: r for r in reward_table()}
    copy = rows["copy input order"]
    assert copy["naive_format"] == 0.2 and copy["conditional_format"] == 0.0
    assert rows["target to 1st"]["conditional_format"] > copy["conditional_format"]
    assert all(rows["no JSON"][v] == -1.0 for v in ("conditional_format", "naive_format", "rank_promotion"))
    assert to_markdown(list(rows.values())).count("\n") == len(rows) + 2
