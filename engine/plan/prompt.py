"""The prompt an agent gets for a task: where it sits in the plan, what to do, what came before.

Pure. Results of dependencies are bounded, so a chatty upstream agent cannot blow up the
prompts of everything downstream.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.formats import clip
from engine.plan.model import Cascade, Task

DEP_RESULT_CHARS = 2000
ALL_DEPS_CHARS = 12000


def build_prompt(cascade: Cascade, task: Task, dep_results: Mapping[str, str]) -> str:
    section = " / ".join(p for p in (task.branch, task.group) if p)
    lines = [
        f"You are one of several agents carrying out the plan of work '{cascade.project}'.",
        f"Your task is {task.id}: {task.name}" + (f" (section: {section})." if section else "."),
        "",
    ]
    if task.description:
        lines += ["What changes:", task.description, ""]
    if task.instructions:
        lines += ["Instructions:", task.instructions, ""]
    if task.depends_on:
        lines.append("This task builds on tasks that are already done:")
        budget = ALL_DEPS_CHARS
        for dep_id in task.depends_on:
            dep = cascade.tasks[dep_id]
            result = clip(
                dep_results.get(dep_id, "").strip(), min(DEP_RESULT_CHARS, max(budget, 0))
            )
            budget -= len(result)
            lines.append(f"- {dep_id}: {dep.name}" + (f" — reported: {result}" if result else ""))
        lines.append("")
    lines += [
        "Work in the current directory. Other agents may be working on other tasks at the same "
        "time; change only what this task needs. When you are done, reply with a short summary "
        "of what you changed.",
        "",
        f"nova-task: {task.id}",
    ]
    return "\n".join(lines) + "\n"


def build_resume_prompt(task: Task) -> str:
    """The prompt for `claude --resume` of a task whose earlier attempt was interrupted."""
    return (
        "You were interrupted before finishing this task. Continue where you stopped, then "
        "reply with a short summary of what you changed.\n\n"
        f"nova-task: {task.id}\n"
    )


CHECK_OUTPUT_CHARS = 4000


def check_feedback(command: str, outcome: str, output: str) -> str:
    """What an agent is told when the task's check failed after its last attempt."""
    shown = output.strip()
    if len(shown) > CHECK_OUTPUT_CHARS:
        shown = "…" + shown[-(CHECK_OUTPUT_CHARS - 1) :]
    return (
        f"The check that decides whether this task is done, `{command}`, {outcome} after your "
        "last attempt."
        + (f" The end of its output:\n\n```\n{shown}\n```\n" if shown else " It printed nothing.\n")
    )


def build_check_prompt(task: Task, feedback: str) -> str:
    """The prompt for `claude --resume` of a task whose check failed: what failed, fix it."""
    return (
        f"{feedback}\nFind the cause and fix it, then reply with a short summary of what you "
        f"changed.\n\nnova-task: {task.id}\n"
    )
