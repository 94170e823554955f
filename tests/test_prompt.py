"""The prompt an agent gets: its task's place and text, and its dependencies' results bounded,
one by one and all together."""

from __future__ import annotations

from engine.plan.cascade import parse_cascade
from engine.plan.prompt import (
    ALL_DEPS_CHARS,
    CHECK_OUTPUT_CHARS,
    DEP_RESULT_CHARS,
    build_prompt,
    check_feedback,
)

PLAN = """# Shop

## L1: App

### L2: Core
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
{rows}
"""


def _plan(deps: int) -> tuple[str, ...]:
    rows = [f"| D{i} | Dep {i} | upstream | - |" for i in range(deps)]
    rows.append(f"| T | Target | the change | {', '.join(f'D{i}' for i in range(deps))} |")
    return tuple(rows)


def test_the_prompt_names_the_project_task_section_and_the_task_id_last() -> None:
    cascade = parse_cascade(PLAN.format(rows="\n".join(_plan(1))))
    prompt = build_prompt(cascade, cascade.tasks["T"], {"D0": "  made the types  "})
    assert "plan of work 'Shop'" in prompt
    assert "Your task is T: Target (section: App / Core)." in prompt
    assert "What changes:\nthe change\n" in prompt
    assert "- D0: Dep 0 — reported: made the types\n" in prompt  # stripped
    assert prompt.endswith("nova-task: T\n")


def test_a_long_result_is_clipped_and_all_results_share_one_budget() -> None:
    """Each result is cut to DEP_RESULT_CHARS; once ALL_DEPS_CHARS are used, the rest are
    shown without one."""
    count = ALL_DEPS_CHARS // DEP_RESULT_CHARS + 2
    cascade = parse_cascade(PLAN.format(rows="\n".join(_plan(count))))
    results = {f"D{i}": "word " * DEP_RESULT_CHARS for i in range(count)}
    prompt = build_prompt(cascade, cascade.tasks["T"], results)
    reported = [line for line in prompt.splitlines() if line.startswith("- D")]
    shown = [line.partition(" — reported: ")[2] for line in reported]
    assert all(len(text) <= DEP_RESULT_CHARS for text in shown)
    assert shown[0].endswith("word…")  # cut, and no space left before the mark
    assert sum(map(len, shown)) <= ALL_DEPS_CHARS + len("…")
    assert shown[-1] == ""  # over budget: the task is named, its result is not


def test_check_feedback_keeps_the_end_of_a_long_output() -> None:
    output = "start " + "x" * CHECK_OUTPUT_CHARS + " the failing line"
    feedback = check_feedback("pytest", "failed (exit 1)", output)
    assert "`pytest`, failed (exit 1) after your last attempt" in feedback
    assert "the failing line" in feedback
    assert "start" not in feedback
    assert check_feedback("true", "failed", "  ").endswith("It printed nothing.\n")
