"""Hostile inputs refused with a 400 and a reason before anything is stored, and CSV
exports that a spreadsheet cannot run as formulas."""

from __future__ import annotations

import csv
import io

import pytest

from jupyter_tutor_hub.dashboard.queries import Table
from jupyter_tutor_hub.gateway.errors import GatewayError
from jupyter_tutor_hub.gateway.handlers.messages import _situation
from jupyter_tutor_hub.gateway.request import context_header, parse_json_object


def _situation_from_header(value: str):
    """``X-Tutor-Context`` as the messages handler reads it."""
    return _situation(context_header(value))


def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    with pytest.raises(GatewayError) as info:
        parse_json_object(b'{"a": ' + deep + b"}")
    assert info.value.status == 400 and "nested too deeply" in info.value.message
    with pytest.raises(GatewayError) as info:
        _situation_from_header('{"a": ' + deep.decode() + "}")
    assert info.value.status == 400


@pytest.mark.parametrize("cell_index", [2**31, -1, 10**30])
def test_a_cell_index_out_of_range_is_a_400(cell_index: int) -> None:
    with pytest.raises(GatewayError) as info:
        _situation_from_header(f'{{"cell_index": {cell_index}}}')
    assert info.value.status == 400 and "cell_index" in info.value.message


def test_a_cell_index_in_range_is_kept() -> None:
    assert _situation_from_header('{"cell_index": 3}').turn.cell_index == 3


def test_csv_cells_are_never_formulas() -> None:
    table = Table("t", "T", [("title", "Title"), ("n", "N")])
    evil = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "plain"]
    table.rows = [{"title": text, "n": 1} for text in evil]
    rows = list(csv.reader(io.StringIO(table.csv())))[1:]
    assert [r[0] for r in rows[:5]] == ["'" + t for t in evil[:5]]
    assert rows[5] == ["plain", "1"]
