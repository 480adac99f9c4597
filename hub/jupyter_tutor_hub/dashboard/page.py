"""From the dashboard's tables to what the page shows: headline numbers and charts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from jupyter_tutor.notebooks import cell_label, cell_number

from . import charts
from .queries import Table


def fmt(value: Any, key: str = "") -> str:
    """A cell as a person reads it: thousands separated, money with cents, dates short,
    a notebook cell's index as its number (counting from 1, as JupyterLab shows it)."""
    if value is None:
        return ""
    if key == "cell" and isinstance(value, int):
        return str(cell_number(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if key == "cost_usd" or isinstance(value, Decimal):
        return f"${float(value):,.4f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def headline(tables: dict[str, Table]) -> list[tuple[str, str]]:
    """The few numbers at the top of the page."""
    questions = sum(r["questions"] for r in tables["questions"].rows)
    errors = sum(r["errors"] for r in tables["questions"].rows)
    tokens = sum(r["tokens"] for r in tables["days"].rows)
    cost = sum(Decimal(r["cost_usd"]) for r in tables["days"].rows)
    adoption = tables["adoption"].rows[0]
    up = sum(r["up"] for r in tables["votes"].rows)
    down = sum(r["down"] for r in tables["votes"].rows)
    pct = adoption.get("adoption_pct")
    return [
        ("Questions", fmt(questions)),
        ("Errors explained", fmt(errors)),
        ("Students using the tutor", fmt(adoption["students_using_tutor"])),
        ("Adoption", f"{pct:g}%" if pct is not None else "n/a"),
        ("Tokens", fmt(tokens)),
        ("Cost", fmt(cost, "cost_usd")),
        ("Found helpful", f"{100 * up / (up + down):.0f}%" if up + down else "no votes yet"),
    ]


def build_charts(tables: dict[str, Table]) -> dict[str, str]:
    """Inline SVG charts, by the name of the table each one illustrates."""
    out: dict[str, str] = {}
    cells = tables["questions"].rows[:15]
    if cells:
        out["questions"] = charts.bar_chart(
            "Questions and errors explained per notebook cell",
            [(_cell_label(r), [r["questions"], r["errors"]]) for r in cells],
            [("questions", charts.BLUE), ("errors explained", charts.ORANGE)],
        )
    if tables["errors"].rows:
        out["errors"] = charts.bar_chart(
            "Most frequent errors",
            [(r["error"], [r["questions"]]) for r in tables["errors"].rows[:12]],
            [("questions", charts.RED)],
        )
    days = tables["days"].rows
    if days:
        labels = [r["day"].strftime("%m-%d") for r in days]
        out["days"] = charts.column_chart(
            "Questions per day", labels, [r["questions"] for r in days], charts.BLUE
        ) + charts.column_chart(
            "Cost per day (USD)", labels, [float(r["cost_usd"]) for r in days], charts.AMBER
        )
    votes = tables["votes"].rows
    out["votes"] = charts.stacked_bar(
        "Helpfulness votes",
        [
            ("helpful", sum(r["up"] for r in votes), charts.GREEN),
            ("not helpful", sum(r["down"] for r in votes), charts.RED),
            ("still stuck", sum(r["stuck"] for r in votes), charts.AMBER),
        ],
    )
    adoption = tables["adoption"].rows[0]
    pct = adoption.get("adoption_pct")
    using = adoption["students_using_tutor"]
    if pct is not None:
        caption = f"{using} of {adoption['active_students']} active students used the tutor"
    elif adoption.get("active_students") == 0:
        caption = "No student was active in this period."
    else:
        caption = f"{using} students used the tutor (the hub's list of users could not be read)"
    out["adoption"] = charts.meter("Adoption", pct / 100 if pct is not None else None, caption)
    return out


def _cell_label(row: dict[str, Any]) -> str:
    where = " · ".join(filter(None, [row["notebook"], cell_label(row["cell"])]))
    return f"{where} · {row['exercise']}" if row["exercise"] else where
