"""One answer's cell has one number wherever a person reads it: the passages the model is
shown (so the answer body says it), the source card, the magics and the dashboard.

The answer is ``labextension/src/__tests__/one_answer.json``: its source as the gateway
sends it (cell 0-based, as the APIs count) and the place people read.  The panel's
``views.spec.ts`` checks its source card against the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_tutor.protocol import decode_citations, encode_citations
from jupyter_tutor_hub.course.search import Hit
from jupyter_tutor_hub.dashboard.page import build_charts, fmt
from jupyter_tutor_hub.dashboard.queries import Table
from jupyter_tutor_hub.gateway.prompt import passages_text
from jupyter_tutor_hub.gateway.service import citation_items
from jupyter_tutor_magics.render import Answer, history_markdown

ONE_ANSWER = json.loads(
    (Path(__file__).parents[1] / "labextension/src/__tests__/one_answer.json").read_text(
        encoding="utf-8"
    )
)
CITATION: dict[str, Any] = ONE_ANSWER["citation"]
PLACE: str = ONE_ANSWER["place"]  # "week1/loops.ipynb, cell 5"
HIT = Hit(
    course=CITATION["course"],
    path=CITATION["path"],
    heading=CITATION["heading"],
    cell=CITATION["cell"],
    text=CITATION["text"],
    score=1.0,
)


def test_the_model_is_shown_the_place_people_read() -> None:
    assert f"({PLACE})" in passages_text([HIT])


def test_the_source_card_gets_the_cell_as_the_api_counts_it() -> None:
    # the panel's card turns this into PLACE (views.spec.ts, same file)
    assert decode_citations(encode_citations(citation_items(HIT.course, [HIT]))) == [CITATION]


def test_the_magics_name_the_same_place_streamed_and_from_the_history() -> None:
    answer = Answer()
    answer.feed({"type": "citation", **CITATION})
    assert f"({PLACE})" in answer.markdown()
    assert f"({PLACE})" in answer.plain_ending()
    stored = {"role": "assistant", "content": "See [1].", "citations": [CITATION]}
    assert f"({PLACE})" in history_markdown({"messages": [stored]})


def test_the_dashboard_names_the_same_cell_in_its_table_and_chart() -> None:
    notebook, cell = PLACE.split(", cell ")
    row = {"notebook": CITATION["path"], "cell": CITATION["cell"], "exercise": None}
    assert fmt(row["cell"], "cell") == cell
    empty = Table("", "", [], [])
    tables: dict[str, Any] = {
        "questions": Table("questions", "", [], [row | {"questions": 1, "errors": 0}]),
        "errors": empty,
        "days": empty,
        "votes": empty,
        "adoption": Table("adoption", "", [], [{"students_using_tutor": 1}]),
    }
    assert f"{notebook} · cell {cell}" in build_charts(tables)["questions"]
