"""Turn the benchmarks' JSON (bench/results/) into docs/performance.md and its charts.

Run the benchmarks first (see bench/README.md); each writes its own JSON.  This script
only reads them, draws PNG charts into docs/performance/ and writes the Markdown report,
so the numbers in the report are exactly the ones measured.

    python bench/report.py
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DOCS = BENCH.parent / "docs"
CHARTS = DOCS / "performance"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextmanager
def _chart(path: Path, title: str, unit: str, grid_axis: str = "both") -> Iterator[Axes]:
    """Axes to draw a chart on; on leaving, label and title them and save the figure to path."""
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    yield ax
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis=grid_axis, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def bars(path: Path, title: str, groups: list[str], series: dict[str, list[float]], unit: str):
    """A grouped bar chart: one group per x label, one bar per series."""
    with _chart(path, title, unit, grid_axis="y") as ax:
        width = 0.8 / max(1, len(series))
        for n, (label, values) in enumerate(series.items()):
            xs = [i + n * width for i in range(len(groups))]
            ax.bar(xs, values, width, label=label)
        ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(groups))], groups)
    return path.relative_to(DOCS)


def line(
    path: Path,
    title: str,
    xs: list[float],
    series: dict[str, list[float]],
    xlabel: str,
    unit: str,
    logx: bool = False,
):
    """A line per series over xs, with markers at the measured points."""
    with _chart(path, title, unit) as ax:
        for label, values in series.items():
            ax.plot(xs, values, marker="o", label=label)
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    return path.relative_to(DOCS)


def gateway_section(data: dict) -> list[str]:
    levels = list(data["levels"])
    rows = data["levels"]
    chart = bars(
        CHARTS / "gateway_ttft.png",
        "Time to first token, p95: direct vs minimal relay vs gateway",
        [f"{n} student(s)" for n in levels],
        {
            "direct": [rows[n]["direct"]["ttft_p95_ms"] for n in levels],
            "minimal relay": [rows[n]["relay"]["ttft_p95_ms"] for n in levels],
            "gateway": [rows[n]["gateway"]["ttft_p95_ms"] for n in levels],
            "gateway, OpenAI-compatible": [
                rows[n]["gateway_openai"]["ttft_p95_ms"] for n in levels
            ],
        },
        "ms",
    )
    out = [
        "## The gateway's overhead",
        "",
        "`bench/gateway_overhead.py`: the same streamed questions from distinct students (one",
        "hub user and token each) with the official SDKs, one path at a time: straight to the",
        "fake upstream (*direct*), through a relay that only forwards bytes (*relay*,",
        "`bench/minimal_relay.py`: the floor of relaying on this machine) and through the",
        "gateway (hub token check, course and policy, budget reserved and settled, question",
        "embedded and searched in the sample course, output guard, turn stored before and",
        "after, events relayed one by one). *OpenAI* rows: the openai SDK straight to the fake",
        "Chat Completions API and through the relay, against the anthropic SDK through the",
        "gateway asking for a model it routes there (translated both ways).",
        "",
        "| students at once | path | requests | errors | TTFT p50 / p95 | added TTFT p50 / p95 |"
        " total p50 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    base = {
        "direct": "direct",
        "relay": "direct",
        "gateway": "direct",
        "openai_direct": "openai_direct",
        "openai_relay": "openai_direct",
        "gateway_openai": "openai_direct",
    }
    for n in levels:
        r = rows[n]
        for path, against in base.items():
            p, d = r[path], r[against]
            added = (
                "—"
                if path == against
                else f"{p['ttft_p50_ms'] - d['ttft_p50_ms']:.1f} /"
                f" {p['ttft_p95_ms'] - d['ttft_p95_ms']:.1f} ms"
            )
            out.append(
                f"| {n} | {path.replace('_', ' ')} | {p['requests']} | {p['errors']} |"
                f" {p['ttft_p50_ms']} / {p['ttft_p95_ms']} ms | {added} |"
                f" {p['total_p50_ms']} ms |"
            )
    out += [
        "",
        "| students at once | gateway p95 / direct p95 | gateway memory per open stream |",
        "| --- | --- | --- |",
    ]
    for n in levels:
        r = rows[n]
        out.append(
            f"| {n} | {r['gateway_over_direct_ttft_p95']}x |"
            f" {r['gateway_rss_per_open_stream_bytes'] / 1024:.0f} KiB |"
        )
    goals = data.get("goals", {})
    out += [
        "",
        f"Every gateway answer stored with both turns: {data.get('every_turn_stored')}"
        f" ({data.get('gateway_answers')} answers; rows {data.get('stored')}). Goals: "
        + ", ".join(f"{k} {'met' if v else 'missed'}" for k, v in goals.items())
        + ".",
        "",
        f"![gateway TTFT]({chart})",
        "",
    ]
    return out


def end_to_end_section(data: dict) -> list[str]:
    levels = list(data["levels"])
    rows = data["levels"]
    chart = bars(
        CHARTS / "end_to_end.png",
        "Time to first token, p50: chat API vs gateway vs direct",
        [f"{n} at once" for n in levels],
        {
            "chat API (panel path)": [rows[n]["chat_api"]["ttft_p50_ms"] for n in levels],
            "SDK via gateway": [rows[n]["gateway_sdk"]["ttft_p50_ms"] for n in levels],
            "SDK direct": [rows[n]["direct_sdk"]["ttft_p50_ms"] for n in levels],
        },
        "ms",
    )
    turns = data.get("conversation_length", [])
    growth = line(
        CHARTS / "conversation_length.png",
        "One conversation growing: time per turn through the chat API",
        [t["turn"] for t in turns],
        {"first token": [t["ttft_ms"] for t in turns], "done": [t["total_ms"] for t in turns]},
        "turn",
        "ms",
    )
    out = [
        "## End to end: the student's question through every part",
        "",
        "`bench/end_to_end.py`: `POST /user/NAME/tutor/api/chat` on a spawned single-user",
        "server (what the panel does: context, orchestrator, SDK, gateway, fake upstream)",
        "against the SDK to the gateway and the SDK straight to the fake.",
        "",
        "| at once | path | TTFT p50 / p95 | done p50 / p95 | errors |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n in levels:
        for path in ("chat_api", "gateway_sdk", "direct_sdk"):
            r = rows[n][path]
            out.append(
                f"| {n} | {path} | {r['ttft_p50_ms']} / {r['ttft_p95_ms']} ms |"
                f" {r['total_p50_ms']} / {r['total_p95_ms']} ms | {r['errors']} |"
            )
    mem, after = data["memory_idle_mb"], data.get("memory_after_mb", {})
    out += [
        "",
        f"![end to end]({chart})",
        "",
        f"Memory: gateway {mem['gateway']} MB idle, {after.get('gateway', '?')} MB after the run;"
        f" one single-user server {mem['single_user_server']} MB idle,"
        f" {after.get('single_user_server', '?')} MB after (the gateway's resident size is"
        " mostly the embedding model it loads for retrieval).",
        "",
        "Conversation length: each follow-up resends the conversation so far (fetched from the",
        "gateway) to the model; time per turn as one conversation grows to"
        f" {len(turns)} turns:",
        "",
        f"![conversation length]({growth})",
        "",
    ]
    return out


def fairness_section(data: dict) -> list[str]:
    """One student's time to first token while another floods, against the same alone."""
    phases = data["phases"]
    alone = phases["alone"]
    out = [
        "## Fairness: one student flooding, another asking",
        "",
        f"`bench/fairness.py`: a victim student asks {data['questions_per_phase']} rounds of"
        " three questions, one after the other (one every"
        f" {data['victim_gap_seconds']} s, under the demo's rate limit): alone; just after"
        f" another student opened {data['flood_width']} streams at once (burst); and while"
        f" that student keeps {data['flood_width']} requests in flight (sustained). The"
        " phases alternate, so a change of the machine's load weighs on each alike. One run,"
        " with the demo's limits"
        f" (`{data['gateway_limits']}`) and the sample course ingested (every question is"
        " embedded, searched and guarded). The flooder is its own process on the same 2"
        " cores."
        f" Goal: {data['goal']}.",
        "",
        "| phase | victim TTFT p50 / p95 / max | p95 vs alone | victim errors | flooder's"
        " requests (answered / refused) | flooder req/s | hub, proxy and gateway CPU |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in phases.items():
        flood = r["flooder"]["by_status"]
        refused = sum(n for status, n in flood.items() if status != "200")
        ratio = r.get("ttft_p95_ratio_to_alone")
        out.append(
            f"| {name} | {r['ttft_p50_ms']} / {r['ttft_p95_ms']} / {r['ttft_max_ms']} ms |"
            f" {'' if ratio is None else f'{ratio}x'} | {r['errors']} |"
            f" {flood.get('200', 0)} / {refused} | {r['flooder']['requests_per_second']} |"
            f" {r['hub_side_cpu_percent']} % |"
        )
    missed = [n for n in ("burst", "sustained") if not phases[n]["within_goal"]]
    verdict = (
        "Within the goal in both phases in this run."
        if not missed
        else "Not within the goal: " + ", ".join(
            f"{n} {phases[n]['ttft_p95_ratio_to_alone']}x" for n in missed
        ) + " at p95."
    )
    if any(phases[n]["ttft_p95_ratio_to_alone"] < 1 for n in ("burst", "sustained")):
        verdict += (
            " A ratio below 1 means the flood cost the victim less than the noise between"
            " questions on this machine."
        )
    out += [
        "",
        f"{verdict} The p95 of {data['questions_per_phase']} questions is close to their"
        " slowest one, so a single slow answer on this shared machine moves it: compare"
        " runs, not one number (an earlier version that ran the phases one after the"
        " other measured 0.46x to 2.16x at p95 across three runs). Alone, the victim's"
        " first token takes"
        f" {alone['ttft_p50_ms']} ms at p50."
        " The flooder's requests past its three open streams are refused from memory, and"
        " those that find a free slot past its rate limit by one small transaction, before"
        " any retrieval or model work; the victim is never refused. What remains is the"
        " gateway's own time per refused request (one event loop reads, identifies and"
        " answers each), which the victim's request queues behind, and the flooder's client"
        " competing for the same two cores. (Before admission came first, the issue that"
        " asked for this benchmark saw the victim's first token at 11 s under a burst and"
        " 16-21 s under a sustained flood, measured by hand on the demo.)",
        "",
    ]
    return out


def load_section(data: dict) -> list[str]:
    return [
        "## Load: students streaming at once for minutes",
        "",
        f"`bench/load_test.py`: {data['students']} simulated students, each with their own hub",
        f"user and token, asking, reading the streamed answer and asking again for"
        f" {data['seconds']:.0f} s through one gateway.",
        "",
        "| answered | errors | answers/s | TTFT p50 / p95 | every turn stored | gateway memory"
        " first third → last third |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {data['answered']} | {data['errors']} | {data['answers_per_second']} |"
        f" {data['ttft_p50_ms']} / {data['ttft_p95_ms']} ms | {data['every_turn_stored']}"
        f" ({data['stored']}) | {data['gateway_rss_first_third_mb']} →"
        f" {data['gateway_rss_last_third_mb']} MB (ratio {data['gateway_rss_growth_ratio']}) |",
        "",
    ] + ([f"Errors seen: `{data['error_samples']}`", ""] if data["errors"] else [])


def retrieval_section(speed: dict | None, quality: dict | None) -> list[str]:
    out = ["## Retrieval", ""]
    if quality:
        out += [
            "`bench/retrieval_quality.py`: the question set `bench/questions/` (students'",
            "phrasing, error messages, code) against gold cells of a course in"
            " `../shared/courses`.",
            "",
            "| method | recall@1 | recall@5 | MRR |",
            "| --- | --- | --- | --- |",
        ]
        for method, scores in quality.get("methods", {}).items():
            out.append(
                f"| {method} | {scores.get('recall@1')} | {scores.get('recall@5')} |"
                f" {scores.get('mrr')} |"
            )
        out.append("")
    if speed:
        scales = sorted(
            (int(k.split("_")[1]), v) for k, v in speed.items() if k.startswith("scale_")
        )
        methods = ("hybrid", "vector", "text")
        chart = line(
            CHARTS / "retrieval_latency.png",
            "Search latency p95 as the course grows",
            [n for n, _ in scales],
            {m: [v["search"][m]["p95_ms"] for _, v in scales] for m in methods},
            "chunks",
            "ms",
            logx=True,
        )
        ingest = speed["ingest_with_model"]
        out += [
            "`bench/retrieval_speed.py`:",
            "",
            f"- ingest: {ingest['chunks_per_second']} chunks/s with the local embedding model,"
            f" {speed['ingest_without_model']['chunks_per_second']} chunks/s without it;"
            f" re-ingesting an unchanged course {speed['reingest']['unchanged_course_seconds']} s,"
            f" one changed notebook {speed['reingest']['one_changed_notebook_seconds']} s"
            f" ({speed['reingest']['one_changed_notebook_embedded']} chunk re-embedded);",
            f"- embedding a question: p50 {speed['embed_query']['p50_ms']} ms;",
            "",
            "| chunks | hybrid p50 / p95 | vector p50 / p95 | full text p50 / p95 |"
            " load / index build |",
            "| --- | --- | --- | --- | --- |",
        ]
        for n, v in scales:
            s = v["search"]
            out.append(
                f"| {n:,} | "
                + " | ".join(f"{s[m]['p50_ms']} / {s[m]['p95_ms']} ms" for m in methods)
                + f" | {v['load_seconds']} s"
                + f" / {round(v['hnsw_build_seconds'] + v['word_counts_seconds'], 1)} s |"
            )
        out += ["", f"![retrieval latency]({chart})", ""]
    return out


def findings(gateway: dict | None, load: dict | None, speed: dict | None) -> list[str]:
    """What the numbers say, in a few lines, computed from them."""
    out = ["## What it means", ""]
    if gateway and "1" in gateway["levels"]:
        one = gateway["levels"]["1"]
        out.append(
            f"- **One student:** the gateway adds {one['added_ttft_p50_ms']} ms to the first"
            f" token at p50 (goal: 5 ms; the minimal relay adds"
            f" {one['relay_added_ttft_p50_ms']} ms) and {one['added_total_p50_ms']} ms to"
            " the whole answer."
        )
    if gateway and len(gateway["levels"]) > 1:
        top = max(gateway["levels"], key=int)
        row = gateway["levels"][top]
        out.append(
            f"- **Many students on one process:** at {top} at once"
            f" ({row['gateway']['errors']} errors) the gateway's p95 time to first token is"
            f" {row['gateway_over_direct_ttft_p95']}x the direct path's. One gateway process,"
            " the load generator, the fakes, the relay and PostgreSQL share 2 cores. The"
            " gateway keeps no state a replica needs from another, so it scales out:"
            " `infra/k8s` runs it with an autoscaler."
        )
    if load:
        out.append(
            f"- **Sustained load:** {load['students']} students for {load['seconds']:.0f} s:"
            f" {load['answered']} answers, {load['errors']} errors, every turn stored:"
            f" {load['every_turn_stored']}, gateway memory flat (ratio"
            f" {load['gateway_rss_growth_ratio']} between the first and last third)."
        )
    if speed:
        scales = sorted(int(k.split("_")[1]) for k in speed if k.startswith("scale_"))
        small, large = speed[f"scale_{scales[0]}"], speed[f"scale_{scales[-1]}"]
        out.append(
            f"- **Retrieval:** vector search through the HNSW index goes from"
            f" {small['search']['vector']['p50_ms']} ms at {scales[0]:,} chunks to"
            f" {large['search']['vector']['p50_ms']} ms at {scales[-1]:,} (p50); full-text"
            " ranking grows with the course and dominates hybrid latency in a very large"
            f" course ({large['search']['hybrid']['p50_ms']} ms p50,"
            f" {large['search']['hybrid']['p95_ms']} ms p95 at {scales[-1]:,} chunks, within"
            " the gateway's retrieval time limit of 5 s). A real course has thousands of"
            " chunks, where hybrid search costs a few milliseconds."
        )
    return [*out, ""]


#: What a section says when its benchmark's results are not in bench/results/ this time.
NOT_RUN = "*`{}` has not been run.*"


def _sections(page: str) -> dict[str, str]:
    """A page's ``## `` sections by heading line (the text before the first one under "")."""
    parts = page.split("\n## ")
    found = {"": parts[0]}
    for part in parts[1:]:
        heading = "## " + part.split("\n", 1)[0]
        found[heading] = "## " + part
    return found


def kept_from(old: str, new: str) -> str:
    """``new``, where a section's benchmark was not run this time (results are not
    committed: each run measures what it measures) its section from the page as it was,
    and sections that only the old page has (results of other benchmarks) kept at the end."""
    before, after = _sections(old), _sections(new)
    out = []
    for heading, text in after.items():
        body = text.split("\n", 1)[1].strip() if "\n" in text else ""
        if heading in before and heading and (not body or "has not been run.*" in body):
            text = before[heading]
        out.append(text)
    out += [text for heading, text in before.items() if heading and heading not in after]
    return "\n".join(part.rstrip("\n") + "\n" for part in out)


def cross_section(data: dict) -> list[str]:
    """Retrieval tuned on one course and measured on another (bench/retrieval_quality.py
    --cross): what the project can expect on a course it has never seen."""
    cross = data["cross"]
    shipped = data["fusion"]
    out = [
        "## Retrieval on courses it was not tuned on",
        "",
        "`bench/retrieval_quality.py --cross`: two courses with their own question sets"
        " (students' phrasing, error messages, pasted tracebacks and code; gold cells"
        " picked by hand). Both sets were written by the project from the notebooks, not"
        " asked by real students, so they may share more words with the course than real"
        " questions do; the gold spans are whole sections (any cell of one counts)."
        " As shipped (weighted sum, vector weight"
        f" {shipped['vector_weight']}, {shipped['candidates']} candidates per list):",
        "",
        "| course | questions | chunks | method | recall@1 | recall@5 | MRR |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, course in cross["courses"].items():
        for method, s in course["shipped"].items():
            out.append(
                f"| {name} | {course['questions']} | {course['chunks']} | {method} |"
                f" {s['recall@1']} | {s['recall@5']} | {s['mrr']} |"
            )
    out += [
        "",
        f"Then the best of {cross['settings_tried']} fusion settings (weighted sums and"
        " reciprocal rank fusion) by MRR on one course, scored on the other:",
        "",
        "| tuned on | chosen | MRR there | reported on | recall@1 | recall@5 | MRR |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in cross["directions"]:
        chosen = ", ".join(f"{k} {v}" for k, v in d["chosen"].items())
        s = d["on_unseen_course"]
        out.append(
            f"| {d['tuned_on']} | {chosen} | {d['on_tuning_course']['mrr']} |"
            f" {d['reported_on']} | {s['recall@1']} | {s['recall@5']} | {s['mrr']} |"
        )
    better = [
        d
        for d in cross["directions"]
        if d["on_unseen_course"]["mrr"]
        > cross["courses"][d["reported_on"]]["shipped"]["hybrid"]["mrr"]
    ]
    verdict = (
        "A tuned setting beat the shipped one on the course it was not tuned on: "
        + ", ".join(f"tuned on {d['tuned_on']}" for d in better)
        + "; it is kept only if it holds in both directions."
        if better
        else "Neither tuned setting beats the shipped one on the course it was not tuned on,"
        " so the shipped setting stays."
    )
    goal = " ".join(
        f"{name}: hybrid recall@5 {c['shipped']['hybrid']['recall@5']} (goal 0.92),"
        f" MRR {c['shipped']['hybrid']['mrr']} (goal 0.80)."
        for name, c in cross["courses"].items()
    )
    return [*out, "", verdict, goal, ""]


def relevance_section(data: dict) -> list[str]:
    report = data["report"]
    tuned = next(r for r in data["tune"]["sweep"] if r["cutoff"] == data["chosen_on_tune_set"])
    return [
        "## Offline answers: when the course does not cover a question",
        "",
        "`bench/relevance_cutoff.py`: without a model, a passage is shown only when its"
        " embedding similarity to the question reaches a cut-off; below it the answer says"
        " the course does not cover the question (yet). Chosen on one course, reported on"
        " another it never saw.",
        "",
        "| set | course | course questions answered | off-topic questions declined |",
        "| --- | --- | --- | --- |",
        f"| tuning (cut-off {data['chosen_on_tune_set']}) | {data['tune']['course']}"
        f" ({data['tune']['questions']} + {data['tune']['off_topic']} off-topic) |"
        f" {tuned['answered']} | {tuned['declined']} |",
        f"| report (cut-off {report['at_configured']['cutoff']}, as shipped) |"
        f" {report['course']} ({report['questions']} + {report['off_topic']} off-topic) |"
        f" {report['at_configured']['answered']} | {report['at_configured']['declined']} |",
        "",
    ]


def guard_section(data: dict) -> list[str]:
    shipped = data["report"]["at_shipped"]
    tuned = next(
        r for r in data["tune"]["sweep"]
        if r["trigger_ratio"] == data["tune"]["chosen_trigger_ratio"]
    )
    kinds = sorted(shipped["stopped_share_by_kind"])
    lines = [
        "## The output guard: graded solutions against honest help",
        "",
        "`bench/guard.py`: twelve exercises of our own (not the sample course's), each"
        " replayed by the model in every disguise and on every path (text, thinking, a"
        " `run_code` input, split over 2, 3 and 6 answers of one conversation), and"
        f" {data['honest_answers_total']} distinct honest tutoring answers (hints, explanations,"
        " small generic examples, worked examples on another problem, the stub quoted back;"
        " three generic ones asked in every exercise) that must pass event for event, alone"
        " and as one conversation per exercise. The trigger"
        " ratio is chosen on six exercises (the middle of the ratios that stop the most"
        " replays with the fewest false positives, for a margin either way) and reported on"
        " the six others.",
        "",
        "| set | trigger ratio | replays stopped | honest answers withheld | honest"
        " conversations with a withheld answer |",
        "| --- | --- | --- | --- | --- |",
        f"| tuning ({len(tuned['exercises'])} exercises) | {tuned['trigger_ratio']} |"
        f" {tuned['stopped_share']:.1%} of {tuned['replays']} |"
        f" {tuned['false_positive_rate']:.1%} of {tuned['honest_answers']} |"
        f" {tuned['conversation_false_positive_rate']:.1%} of {tuned['honest_conversations']} |",
        f"| report ({len(shipped['exercises'])} unseen exercises, as shipped) |"
        f" {shipped['trigger_ratio']} | {shipped['stopped_share']:.1%} of {shipped['replays']} |"
        f" {shipped['false_positive_rate']:.1%} of {shipped['honest_answers']} |"
        f" {shipped['conversation_false_positive_rate']:.1%} of"
        f" {shipped['honest_conversations']} |",
        "",
        "Replays stopped per kind on the report set: "
        + ", ".join(f"{k} {shipped['stopped_share_by_kind'][k]:.0%}" for k in kinds)
        + ".",
        "",
        "Missed on the report set: "
        + (", ".join(shipped["missed"]) if shipped["missed"] else "none")
        + ". Ratios tried on the tuning set: "
        + ", ".join(
            f"{r['trigger_ratio']} ({r['stopped_share']:.1%} stopped,"
            f" {r['false_positive_rate']:.1%} false positives)"
            for r in data["tune"]["sweep"]
        )
        + ".",
        "",
        "Caveat: a first run missed one split-6 replay of the report set (one line per"
        " answer); the guard then learned to compare telling whole lines too, so the report"
        " set has been looked at once. The tests' attacks (`tests/test_guard_attacks.py`) use"
        " yet other exercises.",
        "",
    ]
    return lines


def startup_section(data: dict) -> list[str]:
    """The gateway's first health answer after spawn, and the demo started twice."""
    gateway = data["gateway"]
    demo = data["demo"]
    out = [
        "## Start-up: the gateway's health and the demo, first and second start",
        "",
        f"`bench/startup.py`: the gateway process spawned {len(gateway['runs'])} times (time to"
        " its first `health` answer, `starting`, and to `ok`), then `jupyter-tutor demo` started"
        " twice in one data folder (the first start creates the database and indexes the"
        " sample course, the second reuses them) and stopped with Ctrl-C each time."
        f" Goals: {data['goals']}.",
        "",
        "| gateway spawn | first health answer p50 / max | ready (`ok`) p50 |",
        "| --- | --- | --- |",
        f"| {len(gateway['runs'])} runs | {gateway['first_health_p50_s']} /"
        f" {gateway['first_health_max_s']} s | {gateway['ready_p50_s']} s |",
        "",
        "| demo start | banner | gateway health first answer | gateway ready | Ctrl-C to exit |"
        " exit status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in demo.items():
        out.append(
            f"| {name} | {r['banner_s']} s | {r['first_health_s']} s | {r['ready_s']} s |"
            f" {r['stop_s']} s | {r['exit_code']} |"
        )
    out += [
        "",
        "The gateway's port answers `starting` within the first second or so, before its heavy"
        " imports (the Anthropic SDK, JupyterHub's auth client) and the embedding model. The"
        " demo's banner comes once the hub routes to the gateway and the gateway answers"
        " questions (retrieval text-only until the model is loaded, `ready` here). A second"
        " start skips indexing; the rest is JupyterHub's start and the gateway's imports. The"
        " nbformat/jsonschema and openai imports were taken off the gateway's start for this"
        " (the second start's banner came at 38 s before that, in an earlier run under"
        " similar load). The machine's load average (1 min)"
        f" was {data['load_average_1m'][0]} at the start and {data['load_average_1m'][1]} at"
        f" the end, on {data['cores']} cores: other work ran beside it.",
        "",
    ]
    return out


def main() -> None:
    CHARTS.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Performance",
        "",
        "Measured by the scripts in `bench/` (each prints JSON; this page is generated from",
        "their results by `bench/report.py`), each in one run on one machine:"
        f" {platform.machine()}, 2 cores, Python {platform.python_version()}, shared with other",
        "work, so compare numbers within a table (ratios), not across runs. The upstream is",
        "the fake Anthropic API (`tests/fake_anthropic.py`) streaming at a set pace, so the",
        "numbers are the tutor's own costs, not the model's.",
        "",
    ]
    sections = [
        ("gateway_overhead", "## The gateway's overhead", gateway_section),
        ("end_to_end", "## End to end: the student's question through every part",
         end_to_end_section),
        ("load_test", "## Load: students streaming at once for minutes", load_section),
        ("fairness", "## Fairness: one student flooding, another asking", fairness_section),
        ("retrieval_cross", "## Retrieval on courses it was not tuned on", cross_section),
        ("relevance_cutoff", "## Offline answers: when the course does not cover a question",
         relevance_section),
        ("guard", "## The output guard: graded solutions against honest help", guard_section),
        ("startup", "## Start-up: the gateway's health and the demo, first and second start",
         startup_section),
    ]
    for name, title, section in sections:
        data = load(name)
        lines += section(data) if data else [title, "", NOT_RUN.format(name), ""]
    lines += retrieval_section(load("retrieval_speed"), load("retrieval_quality"))
    lines += findings(load("gateway_overhead"), load("load_test"), load("retrieval_speed"))
    page = DOCS / "performance.md"
    old = page.read_text() if page.exists() else ""
    page.write_text(kept_from(old, "\n".join(lines)))
    print(f"wrote {DOCS / 'performance.md'} and {len(list(CHARTS.glob('*.png')))} charts")


if __name__ == "__main__":
    main()
