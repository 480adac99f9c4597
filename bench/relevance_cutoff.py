"""The offline responder's relevance cut-off: when does the course "not cover this (yet)"?

The cut-off is on the cosine similarity of the question and its best passage (the hybrid
score ranks passages against each other and cannot say whether any matches at all). It is
tuned on one course (whirlwind: its 101 questions against 30 off-topic ones) and reported
on another that it never saw (the sample course: 20 questions against 15 other off-topic
ones), as the share of course questions still answered and of off-topic ones declined.

    HF_HUB_OFFLINE=1 ../.venv/bin/python relevance_cutoff.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import BENCH, SHARED_COURSES, bench_server, load_questions, migrated_database, report

from jupyter_tutor_hub.apps.demo import sample_course_dir
from jupyter_tutor_hub.course.embedder import SentenceTransformerEmbedder
from jupyter_tutor_hub.course.ingest import ingest_course
from jupyter_tutor_hub.course.search import search
from jupyter_tutor_hub.gateway.service import TutorGateway

CUTOFFS = [round(0.10 + 0.025 * i, 3) for i in range(17)]  # 0.10 … 0.50


def best_similarities(pool, embedder, course: str, questions: list[str]) -> list[float]:
    """The similarity of each question's best passage (0 when nothing is found)."""
    out = []
    for question in questions:
        hits = search(pool, embedder, course, question, 5)
        out.append(max((h.similarity or 0.0 for h in hits), default=0.0))
    return out


def rates(on_topic: list[float], off_topic: list[float], cutoff: float) -> dict[str, Any]:
    answered = sum(s >= cutoff for s in on_topic) / len(on_topic)
    declined = sum(s < cutoff for s in off_topic) / len(off_topic)
    return {"cutoff": cutoff, "answered": round(answered, 3), "declined": round(declined, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    off_topic = json.loads((BENCH / "questions" / "off_topic.json").read_text())
    embedder = SentenceTransformerEmbedder()
    questions = BENCH / "questions"
    sets = {
        "tune": ("whirlwind", SHARED_COURSES / "whirlwind", questions / "whirlwind.jsonl"),
        "report": ("intro-python", sample_course_dir(), questions / "intro-python.jsonl"),
    }
    measured: dict[str, tuple[list[float], list[float]]] = {}
    with bench_server() as server:
        pool = migrated_database(server, "bench").open_pool()
        try:
            for name, (course, folder, questions_file) in sets.items():
                ingest_course(pool, embedder, Path(folder), course)
                asked = [q["question"] for q in load_questions(questions_file)]
                measured[name] = (
                    best_similarities(pool, embedder, course, asked),
                    best_similarities(pool, embedder, course, off_topic[name]),
                )
        finally:
            pool.close()
    tune_on, tune_off = measured["tune"]
    # Chosen on the tuning set: the most off-topic questions declined while at least 97 % of
    # the course's own questions are still answered.
    keeping = [c for c in CUTOFFS if rates(tune_on, tune_off, c)["answered"] >= 0.97]
    chosen = max(keeping, key=lambda c: (rates(tune_on, tune_off, c)["declined"], -c))
    result = {
        "model": embedder.model_name,
        "configured_cutoff": TutorGateway.offline_min_similarity.default_value,
        "chosen_on_tune_set": chosen,
        "tune": {"course": "whirlwind", "questions": len(tune_on), "off_topic": len(tune_off)}
        | {"sweep": [rates(tune_on, tune_off, c) for c in CUTOFFS]},
        "report": {
            "course": "intro-python",
            "questions": len(measured["report"][0]),
            "off_topic": len(measured["report"][1]),
            "at_chosen": rates(*measured["report"], chosen),
            "at_configured": rates(
                *measured["report"], TutorGateway.offline_min_similarity.default_value
            ),
        },
    }
    report("relevance_cutoff", result)


if __name__ == "__main__":
    main()
