"""Retrieval quality on a real course: hybrid against vector-only and full-text-only.

Ingests a course into a private embedded PostgreSQL with the real local model, asks every
question of a question set (students' phrasing, error messages, tracebacks, code) and
scores the passages returned: a passage is right when it comes from a gold notebook and
spans one of its gold cells.  Reports recall@1, recall@5 and MRR@10 for the three methods
from the same candidate lists, and with ``--sweep`` the same for other fusion settings
and chunk sizes (the defaults were chosen from such a sweep).  Prints JSON and writes it
to ``bench/results/retrieval_quality.json``.

    python bench/retrieval_quality.py [--course-dir DIR] [--questions FILE] [--sweep]
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from common import BENCH, SHARED_COURSES, bench_server, load_questions, migrated_database, report

from jupyter_tutor_hub.course.chunker import Chunker
from jupyter_tutor_hub.course.embedder import SentenceTransformerEmbedder
from jupyter_tutor_hub.course.ingest import ingest_course
from jupyter_tutor_hub.course.search import DEFAULT_FUSION, MODES, Fusion, Hit, candidates, fuse

COURSE = "bench"
DEPTH = 10  # MRR is computed over the first 10 passages


def is_right(hit: Hit, gold: list[dict[str, Any]]) -> bool:
    """The passage comes from a gold notebook and spans one of its gold cells."""
    last = hit.cell if hit.cell_end is None else hit.cell_end
    return any(
        hit.path == g["path"] and hit.cell is not None and hit.cell <= cell <= last
        for g in gold
        for cell in g["cells"]
    )


def scores(ranked: list[list[bool]]) -> dict[str, float]:
    """recall@1, recall@5 and MRR@10 over the questions' right/wrong lists."""
    n = len(ranked)
    first = [next((i for i, right in enumerate(r) if right), None) for r in ranked]
    return {
        "recall@1": round(sum(f == 0 for f in first) / n, 3),
        "recall@5": round(sum(f is not None and f < 5 for f in first) / n, 3),
        "mrr": round(sum(1 / (f + 1) for f in first if f is not None) / n, 3),
    }


def evaluate(found: list[tuple[dict, list]], mode: str, fusion: Fusion) -> list[list[bool]]:
    return [
        [is_right(hit, q["gold"]) for hit in fuse(COURSE, cands, DEPTH, mode=mode, fusion=fusion)]
        for q, cands in found
    ]


def rrf(found: list[tuple[dict, list]], k: int, text_weight: float, n: int) -> list[list[bool]]:
    """Weighted reciprocal rank fusion over the top ``n`` of each list, for comparison."""
    ranked = []
    for q, cands in found:
        score: dict[int, float] = {}
        by_vector = sorted((c for c in cands if c.distance is not None), key=lambda c: c.distance)
        by_text = sorted((c for c in cands if c.text_rank is not None), key=lambda c: -c.text_rank)
        for weight, listed in ((1.0, by_vector[:n]), (text_weight, by_text[:n])):
            for rank, c in enumerate(listed, start=1):
                score[c.id] = score.get(c.id, 0.0) + weight / (k + rank)
        best = sorted(score, key=lambda i: -score[i])[:DEPTH]
        by_id = {c.id: c for c in cands}
        hits = [Hit(COURSE, c.path, "", c.cell, "", 0, c.cell_end) for c in map(by_id.get, best)]
        ranked.append([is_right(hit, q["gold"]) for hit in hits])
    return ranked


def top(cands: list, n: int) -> list:
    """The candidates a search taking ``n`` from each list would have fetched."""
    by_vector = sorted((c for c in cands if c.distance is not None), key=lambda c: c.distance)
    by_text = sorted((c for c in cands if c.text_rank is not None), key=lambda c: -c.text_rank)
    kept = {c.id for c in by_vector[:n]} | {c.id for c in by_text[:n]}
    return [c for c in cands if c.id in kept]


def settings() -> list[tuple[dict[str, Any], Any]]:
    """Every fusion setting tried across courses: (description, found -> right/wrong lists)."""
    out: list[tuple[dict[str, Any], Any]] = []
    for weight, n in itertools.product((0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), (10, 20, 40)):
        fusion = Fusion(vector_weight=weight, candidates=n)
        out.append(
            (
                {"fusion": "weighted_sum", "vector_weight": weight, "candidates": n},
                lambda found, fusion=fusion, n=n: evaluate(
                    [(q, top(c, n)) for q, c in found], "hybrid", fusion
                ),
            )
        )
    for k, text_weight, n in itertools.product((5, 10, 20, 60), (0.5, 0.75, 1.0), (10, 40)):
        out.append(
            (
                {"fusion": "rrf", "rrf_k": k, "text_weight": text_weight, "candidates": n},
                lambda found, k=k, t=text_weight, n=n: rrf(found, k, t, n),
            )
        )
    return out


def cross(pool, embedder, sets: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Settings tuned on one course's questions, reported on another's, both directions.

    Each course is ingested once and every question asked once with the widest candidate
    lists; narrower settings are emulated from those lists (see :func:`top`).
    """
    widest = Fusion(candidates=40)
    found: dict[str, list] = {}
    courses: dict[str, Any] = {}
    for course_dir, questions_file in sets:
        name = course_dir.name
        summary = ingest_course(pool, embedder, course_dir, name)
        questions = load_questions(questions_file)
        found[name] = [
            (q, candidates(pool, embedder, name, q["question"], fusion=widest)) for q in questions
        ]
        courses[name] = {
            "questions": len(questions),
            "chunks": summary.chunks_added + summary.chunks_kept,
            "shipped": {
                mode: scores(
                    evaluate(
                        [(q, top(c, DEFAULT_FUSION.candidates)) for q, c in found[name]],
                        mode,
                        DEFAULT_FUSION,
                    )
                )
                for mode in MODES
            },
        }
    tried = settings()
    directions = []
    for train, test in itertools.permutations(found, 2):
        best, rank = max(tried, key=lambda t: scores(t[1](found[train]))["mrr"])
        directions.append(
            {
                "tuned_on": train,
                "reported_on": test,
                "chosen": best,
                "on_tuning_course": scores(rank(found[train])),
                "on_unseen_course": scores(rank(found[test])),
            }
        )
    return {"courses": courses, "directions": directions, "settings_tried": len(tried)}


def ask_all(pool, embedder, questions: list[dict], fusion: Fusion) -> list[tuple[dict, list]]:
    return [
        (q, candidates(pool, embedder, COURSE, q["question"], fusion=fusion)) for q in questions
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course-dir", type=Path, default=SHARED_COURSES / "whirlwind")
    parser.add_argument("--questions", type=Path, default=BENCH / "questions" / "whirlwind.jsonl")
    parser.add_argument("--sweep", action="store_true", help="also try other settings")
    parser.add_argument("--chunk-sizes", default="600,800,1000,1400", help="for --sweep")
    parser.add_argument(
        "--cross",
        action="store_true",
        help="tune the fusion on one course and report it on the other (whirlwind and "
        "scipy-lectures, with their question sets), both directions; nothing else",
    )
    args = parser.parse_args()
    if args.cross:
        main_cross()
        return

    questions = load_questions(args.questions)
    embedder = SentenceTransformerEmbedder()
    result: dict[str, Any] = {
        "course": args.course_dir.name,
        "questions": len(questions),
        "model": embedder.model_name,
        "chunker": {"max_chars": Chunker().max_chars, "output_chars": Chunker().output_chars},
        "fusion": asdict(DEFAULT_FUSION),
    }
    with bench_server() as server:
        pool = migrated_database(server, "bench").open_pool()
        try:
            summary = ingest_course(pool, embedder, args.course_dir, COURSE)
            result["chunks"] = summary.chunks_added
            started = time.perf_counter()
            found = ask_all(pool, embedder, questions, DEFAULT_FUSION)
            result["seconds_per_question"] = round(
                (time.perf_counter() - started) / len(questions), 4
            )
            result["methods"] = {
                mode: scores(evaluate(found, mode, DEFAULT_FUSION)) for mode in MODES
            }
            hybrid = evaluate(found, "hybrid", DEFAULT_FUSION)
            result["hybrid_misses_at_5"] = [
                q["id"] for (q, _), ranked in zip(found, hybrid, strict=True) if not any(ranked[:5])
            ]
            if args.sweep:
                result["sweep"] = sweep(pool, embedder, args, questions, found)
        finally:
            pool.close()
    report("retrieval_quality", result)


def main_cross() -> None:
    embedder = SentenceTransformerEmbedder()
    sets = [
        (SHARED_COURSES / name, BENCH / "questions" / f"{name}.jsonl")
        for name in ("whirlwind", "scipy-lectures")
    ]
    result: dict[str, Any] = {"model": embedder.model_name, "fusion": asdict(DEFAULT_FUSION)}
    with bench_server() as server:
        pool = migrated_database(server, "bench").open_pool()
        try:
            result["cross"] = cross(pool, embedder, sets)
        finally:
            pool.close()
    report("retrieval_cross", result)


def sweep(pool, embedder, args, questions, found) -> dict[str, Any]:
    """Hybrid with other fusion settings, RRF for comparison, then other chunk sizes."""
    weighted = [
        {"vector_weight": weight, "candidates": n}
        | scores(evaluate(found, "hybrid", Fusion(vector_weight=weight, candidates=n)))
        for weight, n in itertools.product((0.5, 0.6, 0.7, 0.8, 0.9), (10, 20, 40))
    ]
    reciprocal = [
        {"rrf_k": k, "text_weight": text_weight, "candidates": n}
        | scores(rrf(found, k, text_weight, n))
        for k, text_weight, n in itertools.product((5, 10, 20, 60), (0.5, 0.75, 1.0), (10, 40))
    ]
    sizes = []
    for max_chars in (int(s) for s in args.chunk_sizes.split(",")):
        chunker = Chunker(max_chars=max_chars)
        summary = ingest_course(pool, embedder, args.course_dir, COURSE, chunker=chunker)
        resized = ask_all(pool, embedder, questions, DEFAULT_FUSION)
        sizes.append(
            {"max_chars": max_chars, "chunks": summary.chunks_added + summary.chunks_kept}
            | {mode: scores(evaluate(resized, mode, DEFAULT_FUSION)) for mode in MODES}
        )
    return {
        "weighted_sum": weighted,
        "reciprocal_rank": reciprocal,
        "two_fold": two_fold(found),
        "chunk_sizes": sizes,
    }


def two_fold(found: list[tuple[dict, list]]) -> dict[str, Any]:
    """The vector weight chosen on half the questions, scored on the other half."""
    halves = [found[0::2], found[1::2]]
    folds = []
    for train, test in (halves, halves[::-1]):
        weight = max(
            (0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
            key=lambda w: scores(evaluate(train, "hybrid", Fusion(vector_weight=w)))["mrr"],
        )
        folds.append(
            {"vector_weight": weight}
            | {mode: scores(evaluate(test, mode, Fusion(vector_weight=weight))) for mode in MODES}
        )
    return {"folds": folds}


if __name__ == "__main__":
    main()
