"""Parsing CASCADE.md: the format of DESIGN.md, nova's settings and instructions, and every error
a user can make, each reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import CascadeError, Problem
from engine.plan.cascade import decode_cascade, parse_cascade
from engine.plan.markdown import split_row
from engine.plan.model import effective_settings
from engine.plan.settings import DEFAULTS, Settings

HEADER = "| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"

DESIGN_EXAMPLE = """\
# Project Name

## L1: Application

### L2: Foundation
| Task ID | Task Name | What Changes | Depends On |
|---------|-----------|--------------|------------|
| F1 | Core Types | Define base types and interfaces | - |
| F2 | Error Handling | Implement error types | F1 |
| F4 | Validation Utils | Build validation helpers | F1, F2 |
"""


def errors_of(text: str, path: str = "CASCADE.md") -> list[str]:
    """The problems parse_cascade reports for `text`, as printed (`path:line: message`)."""
    with pytest.raises(CascadeError) as info:
        parse_cascade(text, path)
    return [str(p) for p in info.value.problems]


def one_branch(rows: str, before: str = "") -> str:
    """A minimal valid file around some task rows."""
    return f"# P\n{before}\n## L1: App\n{HEADER}{rows}"


# ---- the format ------------------------------------------------------------------------------


def test_design_example_parses_into_project_branch_group_and_dependencies() -> None:
    """The CASCADE.md shown in DESIGN.md parses into the project, section and tasks it shows."""
    cascade = parse_cascade(DESIGN_EXAMPLE)
    assert cascade.project == "Project Name"
    assert list(cascade.tasks) == ["F1", "F2", "F4"]
    f4 = cascade.tasks["F4"]
    assert (f4.name, f4.description) == ("Validation Utils", "Build validation helpers")
    assert (f4.branch, f4.group) == ("Application", "Foundation")
    assert f4.depends_on == ("F1", "F2")
    assert f4.line == 10
    assert cascade.tasks["F1"].depends_on == ()
    assert cascade.tasks["F2"].depends_on == ("F1",)
    assert cascade.sections() == [("Application", "Foundation")]
    assert cascade.warnings == ()


def test_plain_file_without_settings_inherits_nothing() -> None:
    """A file with no settings leaves every task's settings unset, so defaults apply later."""
    cascade = parse_cascade(DESIGN_EXAMPLE)
    assert cascade.settings == Settings()
    assert all(t.settings == Settings() for t in cascade.tasks.values())
    assert effective_settings(cascade.tasks["F1"], Settings()) == DEFAULTS


SETTINGS_FILE = """\
# Proj
- model: sonnet
- timeout: 45m
- retries: 2

## L1: App
- retries: 5

### L2: Foundation
- model: haiku

| Task ID | Task Name | What Changes | Depends On | Model |
|---|---|---|---|---|
| F1 | One | a | - | opus |
| F2 | Two | b | F1 | |
| F3 | Three | c | F1 | - |

### L2: Other
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| G1 | Four | d | - |
"""


def test_task_column_overrides_group_which_overrides_branch_and_project() -> None:
    """`Model` in a row beats the group's `- model:`, which beats the project's."""
    cascade = parse_cascade(SETTINGS_FILE)
    t = cascade.tasks
    assert t["F1"].settings.model == "opus"
    assert t["F2"].settings.model == "haiku"
    assert t["F3"].settings.model == "haiku"  # '-' in a settings column means "not set here"
    assert t["G1"].settings.model == "sonnet"


def test_branch_settings_override_project_settings_for_every_group_in_the_branch() -> None:
    """`- retries: 5` under the branch applies to both its groups; the project timeout stays."""
    cascade = parse_cascade(SETTINGS_FILE)
    assert cascade.settings == Settings(model="sonnet", timeout=2700.0, retries=2)
    for task in cascade.tasks.values():
        assert task.settings.retries == 5
        assert task.settings.timeout == 2700.0


def test_command_line_overrides_win_over_file_and_defaults_fill_the_rest() -> None:
    """effective_settings layers the command line over the task over the defaults."""
    task = parse_cascade(SETTINGS_FILE).tasks["F1"]
    merged = effective_settings(task, Settings(model="sonnet[1m]", max_turns=3))
    assert merged.model == "sonnet[1m]"
    assert merged.max_turns == 3
    assert merged.retries == 5
    assert merged.permission_mode == DEFAULTS.permission_mode


DETAIL_FILE = """\
# P

## L1: App
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| F1 | One | a | - |
| F4 | Validation Utils | b | F1 |

#### F4: Validation Utils
- max-turns: 40
- model: opus

Check every input. A list after the prose is prose:
- timeout: is not a setting here

| Field | Rule |
|---|---|
| email | must contain @ |

Last line.
"""


def test_task_heading_gives_instructions_and_its_leading_settings() -> None:
    """`#### F4: Title` text becomes F4's instructions; the bullet list right under it, settings."""
    task = parse_cascade(DETAIL_FILE).tasks["F4"]
    assert task.settings.max_turns == 40
    assert task.settings.model == "opus"
    assert task.settings.timeout is None
    assert task.instructions.startswith("Check every input.")
    assert "- timeout: is not a setting here" in task.instructions
    assert task.instructions.endswith("Last line.")
    assert parse_cascade(DETAIL_FILE).tasks["F1"].instructions == ""


def test_table_without_task_id_under_task_heading_is_kept_as_instruction_text() -> None:
    """A non-task table under `#### F4` is part of the instructions, not an error or a task."""
    cascade = parse_cascade(DETAIL_FILE)
    assert list(cascade.tasks) == ["F1", "F4"]
    assert "| Field | Rule |\n|---|---|\n| email | must contain @ |" in (
        cascade.tasks["F4"].instructions
    )


def test_task_tables_inside_fenced_code_blocks_are_ignored() -> None:
    """A task table in a ``` fence is an example, not tasks, and does not break the file."""
    text = one_branch("| A1 | One | a | - |\n") + (
        "\n```markdown\n" + HEADER + "| Z9 | Fenced | x | NOPE |\n```\n"
        "~~~\n| Task ID | broken table\n~~~\n"
    )
    assert list(parse_cascade(text).tasks) == ["A1"]


def test_task_table_in_fence_under_task_heading_stays_in_instructions() -> None:
    """A fenced table under `#### A1` is kept verbatim in A1's instructions."""
    text = one_branch("| A1 | One | a | - |\n") + (
        "\n#### A1: One\nLike this:\n```\n" + HEADER + "| Z9 | x | y | - |\n```\n"
    )
    task = parse_cascade(text).tasks["A1"]
    assert "| Z9 | x | y | - |" in task.instructions
    assert task.instructions.startswith("Like this:\n```")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("-", ()),
        ("—", ()),
        ("", ()),
        ("none", ()),
        ("F1", ("F1",)),
        ("F1, F2", ("F1", "F2")),
        ("F1,F2", ("F1", "F2")),
        ("`F1`, `F2`", ("F1", "F2")),
        ("**F1**; F2", ("F1", "F2")),
        ("F1, F1", ("F1",)),
    ],
)
def test_depends_on_forms(cell: str, expected: tuple[str, ...]) -> None:
    """Every common way of writing a Depends On cell gives the right dependency list."""
    text = one_branch(f"| F1 | a | x | - |\n| F2 | b | x | - |\n| T | c | x | {cell} |\n")
    assert parse_cascade(text).tasks["T"].depends_on == expected


def test_escaped_pipe_in_cell_is_a_literal_bar() -> None:
    """`\\|` inside a cell is a bar in the text, not a column boundary."""
    cascade = parse_cascade(one_branch("| F1 | a \\| b | run `x \\| y` | - |\n"))
    assert cascade.tasks["F1"].name == "a | b"
    assert cascade.tasks["F1"].description == "run `x | y`"
    assert split_row("| a | b \\| c |") == ["a", "b | c"]


def test_group_only_section_and_ids_with_dots_dashes_underscores() -> None:
    """IDs may use letters, digits, '.', '_' and '-' and be 64 characters long."""
    long_id = "A" * 64
    cascade = parse_cascade(
        one_branch(f"| api.v2-x_1 | a | x | - |\n| {long_id} | b | x | api.v2-x_1 |\n")
    )
    assert cascade.tasks[long_id].depends_on == ("api.v2-x_1",)


# ---- errors ----------------------------------------------------------------------------------


def test_duplicate_task_id_is_reported_on_the_second_line() -> None:
    """A second row with the same ID names both lines."""
    text = one_branch("| F1 | a | x | - |\n| F1 | b | x | - |\n")
    assert errors_of(text) == [
        "CASCADE.md:7: task ID 'F1' is defined twice (first on line 6). Rename one of them."
    ]


def test_ids_differing_only_in_case_are_rejected() -> None:
    """`F1` and `f1` would share a log file on case-insensitive disks."""
    text = one_branch("| F1 | a | x | - |\n| f1 | b | x | - |\n")
    assert errors_of(text) == [
        "CASCADE.md:7: task ID 'f1' differs from 'F1' (line 6) only in case; their log files "
        "would collide. Rename one of them."
    ]


def test_unknown_dependency_names_the_line_and_suggests_the_close_id() -> None:
    """The DESIGN.md example error: F4 depends on F9, which does not exist; F3 does."""
    text = one_branch(
        "| F1 | a | x | - |\n| F2 | b | x | F1 |\n| F3 | c | x | F2 |\n| F4 | d | x | F1, F9 |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:9: task 'F4' depends on 'F9', which is not defined. Did you mean 'F3'?"
    ]


def test_unknown_dependency_suggests_a_longer_id_with_a_typo() -> None:
    """A misspelt long ID gets the close match as the suggestion."""
    text = one_branch("| auth-login | a | x | - |\n| ui | b | x | auth-logn |\n")
    assert errors_of(text) == [
        "CASCADE.md:7: task 'ui' depends on 'auth-logn', which is not defined. "
        "Did you mean 'auth-login'?"
    ]


def test_unknown_dependency_never_suggests_the_task_itself() -> None:
    """F1 depending on a missing F2 is not told to depend on F1, its own ID."""
    assert errors_of(one_branch("| F1 | a | x | F2 |\n")) == [
        "CASCADE.md:6: task 'F1' depends on 'F2', which is not defined."
    ]


def test_unknown_dependency_without_close_match_has_no_suggestion() -> None:
    """Nothing resembling the missing ID means no 'Did you mean'."""
    text = one_branch("| F1 | a | x | - |\n| F2 | b | x | database-migration |\n")
    assert errors_of(text) == [
        "CASCADE.md:7: task 'F2' depends on 'database-migration', which is not defined."
    ]


def test_self_dependency_is_an_error() -> None:
    """A task that waits for itself would never run."""
    assert errors_of(one_branch("| F1 | a | x | F1 |\n")) == [
        "CASCADE.md:6: task 'F1' depends on itself. Remove 'F1'."
    ]


def test_row_with_wrong_cell_count_names_both_counts() -> None:
    """A row with a missing cell is reported, not silently shifted."""
    assert errors_of(one_branch("| F1 | a | x |\n")) == [
        "CASCADE.md:6: this row has 3 cells but the table header has 4. Make every row have one "
        "cell per column (escape a literal bar as '\\|')."
    ]


def test_task_table_missing_depends_on_column() -> None:
    """A table with Task ID but no Depends On column is reported at its header line."""
    text = (
        "# P\n\n## L1: A\n| Task ID | Task Name | What Changes |\n|---|---|---|\n| F1 | a | b |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:4: this task table has no 'Depends On' column (it has: Task ID, Task Name, "
        "What Changes). Add the column; write '-' for no dependencies."
    ]


def test_table_with_task_columns_but_no_task_id_column_in_a_section_is_an_error() -> None:
    """Under a branch or group, a table with a Depends On column was meant as a task table:
    without its Task ID column its rows would be lost tasks."""
    text = one_branch("| F1 | a | x | - |\n") + (
        "\n### L2: G\n| Name | Depends On |\n|---|---|\n| x | F1 |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:9: this table has no 'Task ID' column (it has: Name, Depends On). Task tables "
        "need the columns Task ID | Task Name | What Changes | Depends On; put other tables "
        "under a '#### Notes' heading."
    ]


def test_task_table_before_any_section_is_an_error() -> None:
    """A task table right under `#` has no branch to belong to."""
    text = "# P\n" + HEADER + "| F1 | a | x | - |\n"
    assert errors_of(text) == [
        "CASCADE.md:2: this task table is outside any section. Put it under a '## L1: <branch>' "
        "heading (and optionally a '### L2: <group>' heading)."
    ]


def test_second_project_heading_is_an_error() -> None:
    """Only one `#` heading: a second one is likely a branch written with the wrong level."""
    text = "# P\n# Q\n## L1: A\n" + HEADER + "| F1 | a | x | - |\n"
    assert errors_of(text) == [
        "CASCADE.md:2: a second project heading '# Q' (the first is on line 1). "
        "Use '## L1: Q' for a branch."
    ]


def test_duplicate_branch_is_an_error() -> None:
    """Two `## L1: App` headings are reported at the second."""
    text = one_branch("| F1 | a | x | - |\n") + "\n## L1: App\n" + HEADER + "| F2 | a | x | - |\n"
    assert errors_of(text) == [
        "CASCADE.md:8: branch 'App' is defined twice (first on line 3). Merge the two sections "
        "or rename one."
    ]


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "Ω1", "A" * 65, "-x", ".hidden", "a b"])
def test_unsafe_task_ids_are_rejected(bad_id: str) -> None:
    """IDs become file names, so path tricks, non-ASCII and overlong IDs are refused."""
    assert errors_of(one_branch(f"| {bad_id} | a | x | - |\n")) == [
        f"CASCADE.md:6: task ID '{bad_id}' is not allowed: IDs name files (logs/<ID>.log), so "
        "they use only ASCII letters, digits, '.', '_' and '-', start with a letter or digit, "
        "and are at most 64 characters."
    ]


def test_empty_task_id_is_an_error() -> None:
    """A row whose ID cell is blank is reported, not skipped."""
    assert errors_of(one_branch("|  | a | x | - |\n")) == [
        "CASCADE.md:6: this row has an empty Task ID. Give every task an ID like F1."
    ]


def test_unknown_setting_suggests_the_known_one() -> None:
    """`- modle: opus` is a typo of model, so it is an error with a suggestion."""
    assert errors_of(one_branch("| F1 | a | x | - |\n", before="- modle: opus")) == [
        "CASCADE.md:2: unknown setting 'modle'. Did you mean 'model'?"
    ]


def test_bullet_that_resembles_no_setting_is_prose() -> None:
    """A `- Note: ...` bullet in a section is ordinary text, not an error."""
    cascade = parse_cascade(one_branch("| F1 | a | x | - |\n", before="- Note: be careful"))
    assert cascade.settings == Settings()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "- timeout: soon",
            "timeout 'soon' is not a duration; write it like 90s, 30m, 2h or 1h30m.",
        ),
        ("- retries: -1", "retries must be at least 0, not -1."),
        ("- retries: two", "retries must be a whole number, not 'two'."),
        (
            "- agent: gpt!",
            "agent 'gpt!' is not an agent kind's name; a kind is one word, like claude or command.",
        ),
        ("- max-turns: 0", "max-turns must be at least 1, not 0."),
        (
            "- permission-mode: acceptedits2",
            "permission-mode 'acceptedits2' is not one of default, acceptEdits, bypassPermissions, "
            "plan, dontAsk. Did you mean 'acceptEdits'?",
        ),
    ],
)
def test_bad_setting_values_are_reported_with_the_rule(line: str, message: str) -> None:
    """Each bad value is reported at its line with what a good one looks like."""
    assert errors_of(one_branch("| F1 | a | x | - |\n", before=line)) == [
        f"CASCADE.md:2: {message}"
    ]


def test_bad_setting_in_a_table_column_names_the_task() -> None:
    """A bad `Timeout` cell is reported at the row, with the task ID."""
    text = (
        "# P\n## L1: A\n| Task ID | Task Name | What Changes | Depends On | Timeout |\n"
        "|---|---|---|---|---|\n| F1 | a | x | - | later |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:5: task 'F1': timeout 'later' is not a duration; write it like 90s, 30m, 2h "
        "or 1h30m."
    ]


def test_settings_for_a_heading_that_names_no_task_are_an_error() -> None:
    """`#### F9:` with settings when F9 does not exist would silently apply to nothing."""
    text = one_branch("| F1 | a | x | - |\n") + "\n#### F9: Gone\n- model: opus\n"
    assert errors_of(text) == [
        "CASCADE.md:8: heading 'F9: Gone' has settings but names no task. Start the heading "
        "with the task ID, like '#### F4: Validation Utils'."
    ]


def test_empty_file_reports_no_tasks_found() -> None:
    """An empty file is an error that shows how a task table looks."""
    problems = errors_of("")
    assert len(problems) == 1
    assert problems[0].startswith("CASCADE.md: no tasks found. Add a section with a task table")
    assert "| Task ID | Task Name | What Changes | Depends On |" in problems[0]


def test_file_with_headings_but_no_table_reports_no_tasks_found() -> None:
    """Headings alone are not a plan."""
    assert errors_of("# P\n\n## L1: A\nSome text.\n")[0].startswith("CASCADE.md: no tasks found.")


def test_all_problems_are_reported_together_in_file_order() -> None:
    """One CascadeError lists every problem, sorted by line, so a user fixes the file in one go."""
    text = one_branch(
        "| F1 | a | x | F7 |\n| F2 | b | x |\n| F1 | c | x | - |\n",
        before="- retries: many",
    )
    with pytest.raises(CascadeError) as info:
        parse_cascade(text, "plans/CASCADE.md")
    lines = [p.line for p in info.value.problems]
    assert lines == [2, 6, 7, 8]
    text_out = str(info.value)
    assert text_out.splitlines()[0] == (
        "plans/CASCADE.md:2: retries must be a whole number, not 'many'."
    )
    assert "plans/CASCADE.md:6: task 'F1' depends on 'F7', which is not defined." in text_out
    assert "plans/CASCADE.md:7: this row has 3 cells" in text_out
    assert "plans/CASCADE.md:8: task ID 'F1' is defined twice (first on line 6)." in text_out


def test_problem_prints_path_alone_when_it_has_no_line() -> None:
    """A whole-file problem reads `path: message`."""
    assert str(Problem("C.md", 0, "is empty.")) == "C.md: is empty."
    assert str(Problem("C.md", 3, "bad.")) == "C.md:3: bad."


# ---- decoding --------------------------------------------------------------------------------


def test_binary_file_is_refused() -> None:
    """NUL bytes mean this is not the markdown file the user meant."""
    with pytest.raises(CascadeError) as info:
        decode_cascade(b"# P\n\x00\x01\x02binary", "a.out")
    assert (
        str(info.value) == "a.out: is a binary file, not markdown. Point nova at your CASCADE.md."
    )


def test_invalid_utf8_names_the_line_and_byte() -> None:
    """A Latin-1 file is reported at the line of its first bad byte."""
    with pytest.raises(CascadeError) as info:
        decode_cascade("# Café\n\n## L1: Ünïcode\n".encode("latin-1"), "C.md")
    assert str(info.value) == "C.md:1: is not valid UTF-8 (byte 0xe9). Save the file as UTF-8."


def test_utf8_with_bom_decodes_and_parses() -> None:
    """An editor's BOM does not hide the project heading."""
    text = decode_cascade(b"\xef\xbb\xbf" + DESIGN_EXAMPLE.encode(), "C.md")
    assert parse_cascade(text).project == "Project Name"


# ---- tables nova must not half-read ----------------------------------------------------------


def test_rows_after_a_blank_line_in_a_task_table_are_an_error_naming_the_blank_line() -> None:
    """Markdown ends a table at a blank line: the rows after it are reported, not dropped."""
    text = one_branch("| A1 | a | x | - |\n\n| A2 | b | x | A1 |\n| A3 | c | x | A2 |\n")
    assert errors_of(text) == [
        "CASCADE.md:8: this row looks like part of the task table above, but the blank line "
        "on line 7 ends that table. Remove the blank line."
    ]


def test_several_blank_lines_in_a_task_table_are_each_reported_with_their_lines() -> None:
    """Two blank lines are named as a range; a second gap further down is its own error."""
    text = one_branch("| A1 | a | x | - |\n\n\n| A2 | b | x | A1 |\n\n| A3 | c | x | A2 |\n")
    assert errors_of(text) == [
        "CASCADE.md:9: this row looks like part of the task table above, but the blank lines "
        "on lines 7-8 end that table. Remove them.",
        "CASCADE.md:11: this row looks like part of the task table above, but the blank line "
        "on line 10 ends that table. Remove the blank line.",
    ]


def test_a_new_task_table_after_a_blank_line_is_not_taken_for_stray_rows() -> None:
    """A table with its own header and separator row after a blank line is a table of its own."""
    cascade = parse_cascade(one_branch("| A1 | a | x | - |\n\n" + HEADER + "| A2 | b | x | A1 |\n"))
    assert list(cascade.tasks) == ["A1", "A2"]


def test_two_depends_on_columns_are_an_error_naming_both() -> None:
    """A second 'Depends On' column would be ignored, with its dependencies: it is an error."""
    text = (
        "# P\n## L1: A\n| Task ID | Task Name | Depends On | Depends On |\n|---|---|---|---|\n"
        "| A1 | a | - | A9 |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:3: this task table has more than one column for the dependencies: "
        "'Depends On' (column 3) and 'Depends On' (column 4). nova reads only one, so merge "
        "them into one column."
    ]


def test_two_columns_for_one_setting_are_an_error() -> None:
    """`Model` and `model` columns are the same setting; nova will not pick one silently."""
    text = (
        "# P\n## L1: A\n| Task ID | Task Name | What Changes | Depends On | Model | model |\n"
        "|---|---|---|---|---|---|\n| A1 | a | x | - | opus | haiku |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:3: this task table has more than one column for the setting 'model': "
        "'Model' (column 5) and 'model' (column 6). nova reads only one, so merge them into "
        "one column."
    ]


# ---- instructions: everything under the task's heading ---------------------------------------

SUB_HEADINGS = """\
# P
## L1: A
| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| F4 | Validation Utils | x | - |
| F5 | Other | y | - |

#### F4: Validation Utils
- model: opus

Intro.

##### Steps
1. must do this

###### Detail
- timeout: in prose, not a setting

##### Acceptance
Tests pass.

#### F5: Other
F5's own text.
"""


def test_sub_headings_under_a_task_heading_are_part_of_its_instructions() -> None:
    """`##### Steps` under `#### F4` and its text reach F4's agent, heading lines included."""
    cascade = parse_cascade(SUB_HEADINGS)
    f4 = cascade.tasks["F4"]
    assert f4.instructions == (
        "Intro.\n\n##### Steps\n1. must do this\n\n###### Detail\n"
        "- timeout: in prose, not a setting\n\n##### Acceptance\nTests pass."
    )
    assert f4.settings.model == "opus"
    assert f4.settings.timeout is None


def test_a_heading_as_deep_as_the_task_heading_ends_its_instructions() -> None:
    """`#### F5` after F4's sub-headings starts F5's instructions; F4's stop before it."""
    cascade = parse_cascade(SUB_HEADINGS)
    assert cascade.tasks["F5"].instructions == "F5's own text."
    assert "F5's own text" not in cascade.tasks["F4"].instructions
    assert cascade.warnings == ()


def test_sub_heading_naming_another_task_inside_instructions_is_a_warning() -> None:
    """`##### F5 notes` inside F4's instructions goes to F4; the warning says how to give it F5."""
    text = one_branch("| F4 | a | x | - |\n| F5 | b | x | - |\n") + (
        "\n#### F4: A\nIntro.\n##### F5 notes\ntext\n"
    )
    cascade = parse_cascade(text)
    assert cascade.tasks["F4"].instructions == "Intro.\n##### F5 notes\ntext"
    assert cascade.tasks["F5"].instructions == ""
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:11: heading '##### F5 notes' is inside the instructions of task 'F4' "
        "(line 9), so 'F5' gets none of its text. To give 'F5' its own instructions, make it "
        "'#### F5 notes'."
    ]


def test_sub_headings_under_a_heading_that_names_no_task_can_be_task_headings() -> None:
    """`#### Details` names no task, so the `##### F4: ...` heading under it is F4's own."""
    text = one_branch("| F4 | a | x | - |\n") + "\n#### Details\n##### F4: A\nDo it.\n"
    assert parse_cascade(text).tasks["F4"].instructions == "Do it."


# ---- settings or prose -----------------------------------------------------------------------


def prose(lines: str, project_text: str = "") -> str:
    """A valid one-task file whose project section holds `project_text` then `lines`."""
    return f"# P\n{project_text}{lines}\n## L1: A\n{HEADER}| F1 | a | x | - |\n"


def test_bullets_right_after_a_line_of_text_are_prose_not_settings() -> None:
    """`Goals:` then `- Model: a tiny SQLite data model` is a note: no model, no error."""
    cascade = parse_cascade(prose("Goals:\n- Model: a tiny SQLite data model for links\n", "\n"))
    assert cascade.settings == Settings()
    assert cascade.tasks["F1"].settings.model is None
    assert cascade.warnings == ()


def test_near_miss_key_in_a_list_of_notes_is_not_an_error() -> None:
    """`- Time: two weekends` under `Goals:` is prose, not a misspelt timeout."""
    cascade = parse_cascade(prose("Goals:\n- Time: two weekends\n", "\n"))
    assert cascade.settings == Settings()
    assert cascade.warnings == ()


def test_list_with_no_setting_name_right_under_a_heading_is_prose() -> None:
    """No key in the list is a setting (and `Time` is no duration's name), so it is prose."""
    cascade = parse_cascade(prose("- Time: two weekends\n- Team: two people\n"))
    assert cascade.settings == Settings()
    assert cascade.warnings == ()


def test_valid_setting_in_a_list_of_notes_right_below_a_line_of_text_gives_no_warning() -> None:
    """`- model: opus` beside `- Ship by June` under `Goals:` is a note the user wrote as one:
    not applied, no warning."""
    cascade = parse_cascade(prose("Goals:\n- model: opus\n- timout: 45m\n- Ship by June\n", "\n"))
    assert cascade.settings == Settings()
    assert cascade.warnings == ()


def test_only_the_first_list_under_a_heading_holds_settings() -> None:
    """A second list with a setting is not applied; the warning points at the settings list."""
    cascade = parse_cascade(prose("- retries: 1\n\nMore text.\n\n- model: opus\n"))
    assert cascade.settings == Settings(retries=1)
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:6: this line looks like the setting 'model', but nova reads it as text: "
        "only the first list under a heading holds settings (here, line 2). To set model, add "
        "'- model: opus' to the settings list on line 2. If it is a note, remove the blank line "
        "between the list and line 4."
    ]


def test_project_settings_list_may_follow_a_paragraph_and_a_blank_line() -> None:
    """The shape of the top-level CASCADE.md: a description, a blank line, then settings."""
    cascade = parse_cascade(prose("- model: sonnet\n- timeout: 45m\n", "\nA plan.\nOf work.\n\n"))
    assert cascade.settings == Settings(model="sonnet", timeout=2700.0)
    assert cascade.warnings == ()


def test_list_below_a_task_table_is_text_with_a_warning_not_the_sections_settings() -> None:
    """`- Timeout: 30s` below a branch's task table describes the server, not the agents'
    timeout: it sets nothing, and the warning says where the branch's settings go."""
    text = one_branch("| F1 | a | x | - |\n| F2 | b | x | F1 |\n") + (
        "\n- Timeout: 30s\n- Max body: 1 MiB\n"
    )
    cascade = parse_cascade(text)
    assert [t.settings.timeout for t in cascade.tasks.values()] == [None, None]
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:9: this line looks like the setting 'timeout', but nova reads it as text: a "
        "list below a task table (line 4) is not read for settings. To set timeout, put "
        "'- timeout: 30s' in a list right under the heading on line 3. If it is a note, put a "
        "line of text directly above the list."
    ]


def test_task_settings_after_its_instructions_text_are_a_warning_not_a_setting() -> None:
    """Under `#### F4` the settings list must come first; a later one stays instructions."""
    text = one_branch("| F4 | a | x | - |\n") + "\n#### F4: A\nIntro.\n\n- model: opus\n"
    cascade = parse_cascade(text)
    task = cascade.tasks["F4"]
    assert task.settings.model is None
    assert task.instructions == "Intro.\n\n- model: opus"
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:11: this line looks like the setting 'model', but nova reads it as text: a "
        "task's settings go in the list right under its heading, before any text. To set model, "
        "put '- model: opus' in a list right under the heading on line 8. If it is a note, "
        "remove the blank line between the list and line 9."
    ]


def test_typo_in_a_settings_list_that_has_real_settings_is_an_error() -> None:
    """`- timout: 45m` next to `- model: sonnet` is a misspelt setting, never prose."""
    assert errors_of(prose("- model: sonnet\n- timout: 45m\n")) == [
        "CASCADE.md:3: unknown setting 'timout'. Did you mean 'timeout'?"
    ]


def test_model_with_spaces_in_a_settings_list_is_an_error_that_says_how_to_make_it_prose() -> None:
    """A first list below a paragraph, every key a setting, one valid: its bad model is an error
    that says why the list is read as settings and how to make it notes."""
    text = prose("- Model: a tiny SQLite data model\n- timeout: 45m\n", "\nWhat we build:\n\n")
    assert errors_of(text) == [
        "CASCADE.md:5: model 'a tiny SQLite data model' is not a model name; a model is one "
        "word, like sonnet, opus or claude-sonnet-4-5. (This list is read as settings: it is the "
        "first list under the heading on line 1, and every item in it names a setting. If it is "
        "notes, put a line of text directly above it.)"
    ]


def test_prose_list_after_the_project_paragraph_with_a_model_key_stays_prose() -> None:
    """`- Model: a tiny data model layer` beside `- Query: ...` after a description is prose:
    not every key is a setting's, and its model is no model name. No error, no warning."""
    lists = [
        "- Model: a tiny data model layer\n- Query: a query builder\n- Session: unit of work\n",
        "- Model: a tiny data model layer\n",
    ]
    for lines in lists:
        cascade = parse_cascade(prose(lines, "\nA small ORM for Python, in three parts:\n\n"))
        assert cascade.settings == Settings()
        assert cascade.warnings == ()


def test_a_setting_given_twice_in_one_list_is_an_error() -> None:
    """Two `model` lines in one list: nova does not pick one silently."""
    assert errors_of(prose("- model: sonnet\n- Model: opus\n")) == [
        "CASCADE.md:3: setting 'model' is given twice in this list (first on line 2). Keep one "
        "of them."
    ]


def test_list_with_an_item_that_is_no_setting_is_instructions_with_a_warning() -> None:
    """`- Keep it small` beside `- model: opus` makes the list text: all of it reaches the agent,
    no model is set, and the warning names the line that is not a setting."""
    text = one_branch("| F4 | a | x | - |\n") + (
        "\n#### F4: A\n- Keep it small\n- model: opus\n- Owner: Ana\n\nDo it.\n"
    )
    cascade = parse_cascade(text)
    task = cascade.tasks["F4"]
    assert task.settings.model is None
    assert task.instructions == "- Keep it small\n- model: opus\n- Owner: Ana\n\nDo it."
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:10: this line looks like the setting 'model', but nova reads it as text: the "
        "list also holds line 9, which is not a setting; a settings list holds only settings. To "
        "set model, keep only settings in this list (move line 9 out of it). If it is a note, "
        "put a line of text directly above the list."
    ]


def test_settings_list_with_blank_lines_between_items_is_one_list() -> None:
    """A loose list (blank lines between items) is still the one settings list."""
    cascade = parse_cascade(prose("- model: sonnet\n\n- retries: 4\n"))
    assert cascade.settings == Settings(model="sonnet", retries=4)


def test_notes_list_under_a_heading_that_names_no_task_is_not_an_error() -> None:
    """`#### Notes` with `- Model: a tiny data model` is prose that goes to no agent: no error."""
    text = one_branch("| F1 | a | x | - |\n") + "\n#### Notes\n- Model: a tiny data model\n"
    assert parse_cascade(text).warnings == ()


@pytest.mark.parametrize("path", ["CASCADE.md", "examples/demo/CASCADE.md"])
def test_example_files_read_their_settings_with_no_warning(path: str) -> None:
    """The repository's example plans keep their settings under the settings-list rule."""
    text = (Path(__file__).parent.parent / path).read_text(encoding="utf-8")
    cascade = parse_cascade(text, path)
    assert cascade.warnings == ()
    expected = {
        "CASCADE.md": {
            "model": "sonnet",
            "timeout": 2700.0,
            "retries": 2,
            "permission-mode": "acceptEdits",
            "allowed-tools": "Bash Edit Write Read Glob Grep",
        },
        "examples/demo/CASCADE.md": {
            "agent": "command",
            "command": "python3 {cascade_dir}/agent.py {id} {prompt_file}",
            "workdir": ".",
            "retries": 1,
            "check": "test -s out/{id}.txt",
        },
    }[path]
    assert cascade.settings.as_dict() == expected
    if path == "CASCADE.md":
        assert cascade.tasks["S3"].settings.max_turns == 40
        assert cascade.tasks["S3"].settings.check == "python3 -m pytest -q"
        assert cascade.tasks["S3"].instructions.startswith("Read `shortener/store.py`")


# ---- settings or prose: plans as people write them -------------------------------------------


def test_spec_list_right_under_a_task_heading_is_instructions_not_the_agents_settings() -> None:
    """`- Timeout: 5s` / `- Retries: 3` / `- Backoff: exponential` under `#### H1` describe the
    HTTP client H1 builds: the agent keeps the default timeout, and gets all three lines."""
    text = one_branch("| H1 | HTTP client | x | - |\n") + (
        "\n#### H1: HTTP client\n- Timeout: 5s\n- Retries: 3\n- Backoff: exponential\n"
    )
    cascade = parse_cascade(text)
    task = cascade.tasks["H1"]
    assert (task.settings.timeout, task.settings.retries) == (None, None)
    assert task.instructions == "- Timeout: 5s\n- Retries: 3\n- Backoff: exponential"
    assert [w.line for w in cascade.warnings] == [9, 10]
    assert "the list also holds line 11, which is not a setting" in cascade.warnings[0].message


def test_list_of_settings_only_right_under_a_task_heading_is_still_its_settings() -> None:
    """The README's shape: `#### F4` then `- model: opus` and `- timeout: 5s` sets them."""
    text = (
        one_branch("| F4 | a | x | - |\n") + "\n#### F4: A\n- model: opus\n- Timeout: 5s\n\nDo.\n"
    )
    cascade = parse_cascade(text)
    assert cascade.tasks["F4"].settings == Settings(model="opus", timeout=5.0)
    assert cascade.tasks["F4"].instructions == "Do."
    assert cascade.warnings == ()


def test_setting_name_with_a_one_word_bad_value_alone_in_a_list_is_still_an_error() -> None:
    """`- timeout: soon` is a mistyped setting, not prose: the list is settings, and it is
    reported, while `- timeout: every query within 30s` alone is prose."""
    assert errors_of(prose("- timeout: soon\n")) == [
        "CASCADE.md:2: timeout 'soon' is not a duration; write it like 90s, 30m, 2h or 1h30m."
    ]
    assert parse_cascade(prose("- timeout: every query within 30s\n")).settings == Settings()


@pytest.mark.parametrize(
    "line",
    [
        "- **Model:** opus",
        "- **Model**: opus",
        "- *Model:* opus",
        "- __Model:__ opus",
        "- `model:` opus",
    ],
)
def test_bold_key_with_the_colon_inside_the_emphasis_is_a_setting(line: str) -> None:
    """`- **Model:** opus` closes the bold after the colon: the model is `opus`, not `** opus`."""
    assert parse_cascade(prose(line + "\n- **Timeout:** 30m\n")).settings == Settings(
        model="opus", timeout=1800.0
    )


def test_group_heading_that_starts_with_a_task_id_and_has_no_tasks_is_a_warning() -> None:
    """`### A2: Second` (one `#` short of a task heading) has no table: its instructions and
    `- model: opus` reach no agent, so nova says to write `#### A2: Second`."""
    text = one_branch("| A1 | First | x | - |\n| A2 | Second | y | A1 |\n") + (
        "\n### A2: Second\n- model: opus\n\nDetailed instructions for A2.\n"
    )
    cascade = parse_cascade(text)
    assert cascade.tasks["A2"].instructions == ""
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:9: heading '### A2: Second' starts with the task ID 'A2', but a '###' heading "
        "is a group, and this group has no tasks, so its text and settings reach no agent. Use "
        "'#### A2: Second' for a task's instructions."
    ]


def test_group_heading_that_starts_with_a_task_id_but_has_tasks_gives_no_warning() -> None:
    """A group called `### F1 follow-ups` with its own task table is a group like any other."""
    text = one_branch("| F1 | a | x | - |\n") + (
        f"\n### F1 follow-ups\n{HEADER}| F2 | b | x | F1 |\n"
    )
    assert parse_cascade(text).warnings == ()


def test_task_table_column_close_to_a_setting_name_is_a_warning_naming_both() -> None:
    """`Modle` and `Timout` columns are ignored, so nova says which settings they resemble;
    `Owner` and `Time` (an estimate) resemble none closely enough to be named."""
    text = (
        "# P\n## L1: A\n"
        "| Task ID | Task Name | What Changes | Depends On | Modle | Timout | Owner | Time |\n"
        "|---|---|---|---|---|---|---|---|\n| A1 | a | x | - | opus | 2h | Ana | 2d |\n"
    )
    cascade = parse_cascade(text)
    assert cascade.tasks["A1"].settings == Settings()
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:3: column 'Modle' (column 5) is not a column nova reads, so its cells are "
        "ignored; its name is close to the setting 'model'. To set model per task, name the "
        "column 'model'.",
        "CASCADE.md:3: column 'Timout' (column 6) is not a column nova reads, so its cells are "
        "ignored; its name is close to the setting 'timeout'. To set timeout per task, name the "
        "column 'timeout'.",
    ]


def test_spec_list_right_below_a_line_of_text_in_a_task_gives_no_warning() -> None:
    """`Defaults it must use:` then `- timeout: 30s` and `- Backoff: exponential` is the user
    saying these are notes: they reach the agent as text, and validate/plan/run stay quiet."""
    text = one_branch("| H1 | a | x | - |\n") + (
        "\n#### H1: HTTP client\nBuild the client. Defaults it must use:\n- timeout: 30s\n"
        "- retries: 3\n- workdir: ./api\n- Backoff: exponential\n"
    )
    cascade = parse_cascade(text)
    assert cascade.tasks["H1"].settings == Settings()
    assert cascade.tasks["H1"].instructions.endswith("- workdir: ./api\n- Backoff: exponential")
    assert cascade.warnings == ()


def test_setting_a_blank_line_sets_apart_from_a_list_of_notes_warns_with_the_blank_line() -> None:
    """`Goals:`, notes, a blank line, `- model: opus`: markdown makes it one list of notes, so
    the model is not set; the warning says so, and which blank line joins them."""
    cascade = parse_cascade(
        prose("Goals:\n- model: the data model must stay compatible\n\n- model: opus\n", "\n")
    )
    assert cascade.settings == Settings()
    assert [str(w) for w in cascade.warnings] == [
        "CASCADE.md:6: this line looks like the setting 'model', but nova reads it as text: a "
        "blank line does not end a markdown list, so it is part of the list of notes below the "
        "text on line 3. To set model, put '- model: opus' in a list right under the heading on "
        "line 1. If it is a note, remove the blank line on line 5."
    ]


def test_warning_for_a_list_below_text_and_a_blank_line_says_to_remove_the_blank_line() -> None:
    """Text, a blank line, then a list in a task: the list is not settings (text comes first),
    and the way to mark it as notes is to remove the blank line, not to add text."""
    text = one_branch("| H2 | a | x | - |\n") + (
        "\n#### H2: Worker\nConfig keys it reads:\n\n- workdir: /var/lib/worker\n"
    )
    assert [str(w) for w in parse_cascade(text).warnings] == [
        "CASCADE.md:11: this line looks like the setting 'workdir', but nova reads it as text: a "
        "task's settings go in the list right under its heading, before any text. To set "
        "workdir, put '- workdir: /var/lib/worker' in a list right under the heading on line 8. "
        "If it is a note, remove the blank line between the list and line 9."
    ]


def test_nova_init_template_reads_its_settings_with_no_warning() -> None:
    """The file `nova init` writes keeps its project settings under the settings-list rule."""
    from engine.cli.commands import TEMPLATE

    cascade = parse_cascade(TEMPLATE.format(project="P"))
    assert cascade.settings == Settings(model="sonnet", timeout=2700.0, retries=2)
    assert cascade.warnings == ()


# ---- settings the author meant, prose that only looks like them, tables that are text ------


@pytest.mark.parametrize(
    "label", ["Settings:", "**Settings**", "settings", "**Settings:**", "_Settings_:"]
)
def test_a_line_that_only_says_settings_above_a_list_labels_it_as_the_settings(label: str) -> None:
    """`Settings:` right above the list is a label, not a line of text that makes it notes: the
    project's settings are read, after a description too, with no warning."""
    cascade = parse_cascade(prose(f"{label}\n- model: opus\n- retries: 3\n", "\nA plan.\n\n"))
    assert cascade.settings == Settings(model="opus", retries=3)
    assert cascade.warnings == ()


def test_settings_label_under_a_task_heading_gives_its_settings_and_is_not_an_instruction() -> None:
    """`#### F4` then `Settings:` and a list: the task's settings; the label reaches no agent."""
    text = one_branch("| F4 | a | x | - |\n") + "\n#### F4: A\nSettings:\n- model: opus\n\nDo it.\n"
    cascade = parse_cascade(text)
    assert cascade.tasks["F4"].settings == Settings(model="opus")
    assert cascade.tasks["F4"].instructions == "Do it."
    assert cascade.warnings == ()


@pytest.mark.parametrize(
    ("heading", "kind"), [("## Settings", "branch"), ("### Settings", "group")]
)
def test_settings_of_a_branch_or_group_with_no_tasks_are_a_warning_saying_where_they_go(
    heading: str, kind: str
) -> None:
    """`## Settings` is a branch like any other: with no tasks its settings apply to nothing, so
    nova says so, and where the project's settings go."""
    text = f"# Atlas\n\n{heading}\n- model: opus\n- timeout: 2h\n\n## L1: A\n"
    text += HEADER + "| F1 | a | x | - |\n"
    cascade = parse_cascade(text)
    assert cascade.tasks["F1"].settings == Settings()
    assert [str(w) for w in cascade.warnings] == [
        f"CASCADE.md:3: heading '{heading}' is a {kind}, and this {kind} has no tasks, so its "
        "settings (model, timeout) apply to no task. Settings for the whole project go in a list "
        "under the '# Atlas' heading (line 1), before the first '##' heading; a branch's or a "
        "group's go in a list under its own heading, above its task table."
    ]


def test_settings_of_a_branch_whose_tasks_are_all_in_groups_give_no_warning() -> None:
    """A branch's settings apply to its groups' tasks, so a branch with no table of its own is
    not a branch with no tasks."""
    text = f"# P\n## L1: A\n- model: opus\n\n### L2: G\n{HEADER}| F1 | a | x | - |\n"
    cascade = parse_cascade(text)
    assert cascade.tasks["F1"].settings == Settings(model="opus")
    assert cascade.warnings == ()


def test_list_right_below_a_line_of_text_whose_every_item_is_a_setting_is_a_warning() -> None:
    """`Atlas is our catalogue.` then `- model: opus` / `- timeout: 2h`: notes by the rule, but
    every line is a setting, so nova says how to make them the project's settings."""
    text = "# P\nAtlas is our catalogue.\n- model: opus\n- timeout: 2h\n\n## L1: A\n"
    cascade = parse_cascade(text + HEADER + "| F1 | a | x | - |\n")
    assert cascade.settings == Settings()
    assert [str(w) for w in cascade.warnings] == [
        f"CASCADE.md:{n}: this line looks like the setting '{name}', but nova reads it as text: a "
        "list directly below a line of text (line 2) is read as notes. To set "
        f"{name}, put a blank line between line 2 and the list. If the list is notes, reword one "
        "of its lines so that not every line is a setting."
        for n, name in ((3, "model"), (4, "timeout"))
    ]


def test_task_list_right_below_one_sentence_whose_every_item_is_a_setting_is_a_warning() -> None:
    """`Use opus, it is tricky.` then `- model: opus` under `#### A1`: text first, so no
    settings; the warning says to move the list right under the task's heading."""
    text = one_branch("| A1 | a | x | - |\n") + (
        "\n#### A1: Endpoints\nUse opus for this one, it is tricky.\n"
        "- model: opus\n- max-turns: 50\n"
    )
    cascade = parse_cascade(text)
    assert cascade.tasks["A1"].settings == Settings()
    assert [w.line for w in cascade.warnings] == [10, 11]
    assert cascade.warnings[0].message.startswith(
        "this line looks like the setting 'model', but nova reads it as text: a task's settings "
        "go in the list right under its heading, before any text. To set model, put "
        "'- model: opus' in a list right under the heading on line 8."
    )


@pytest.mark.parametrize(
    "prose_line",
    ["- Context: see docs/proxy.md", "- Ticket: JIRA-123", "- Review: the security team signs off"],
)
def test_key_only_close_to_a_setting_with_a_value_it_rejects_is_prose_not_a_typo(
    prose_line: str,
) -> None:
    """`- Context: see docs/proxy.md` beside `- Retries: 3` is no misspelt `continues` (it is no
    number): the list is the task's instructions, and only the Retries line gets a warning."""
    text = one_branch("| G1 | a | x | - |\n") + f"\n#### G1: Proxy\n- Retries: 3\n{prose_line}\n"
    cascade = parse_cascade(text)
    assert cascade.tasks["G1"].settings == Settings()
    assert cascade.tasks["G1"].instructions == f"- Retries: 3\n{prose_line}"
    assert [w.line for w in cascade.warnings] == [9]
    assert "the list also holds line 10, which is not a setting" in cascade.warnings[0].message


@pytest.mark.parametrize(
    ("typo", "name"), [("- modle: opus", "model"), ("- retires: 3", "retries")]
)
def test_key_close_to_a_setting_with_a_value_it_accepts_is_still_an_error(
    typo: str, name: str
) -> None:
    """A near-miss key whose value the setting takes is a typo in a settings list."""
    key = typo[2 : typo.index(":")]
    assert errors_of(prose(f"- timeout: 1h\n{typo}\n")) == [
        f"CASCADE.md:3: unknown setting '{key}'. Did you mean '{name}'?"
    ]


def test_table_without_task_columns_under_a_branch_heading_is_text() -> None:
    """`| Component | Owner | Status |` under `## Context` is a table of notes, left alone."""
    text = (
        "# Search\n\n## Context\nThe current search.\n\n| Component | Owner | Status |\n"
        "|---|---|---|\n| Indexer | Sam | new |\n\n## L1: A\n" + HEADER + "| X1 | a | x | - |\n"
    )
    cascade = parse_cascade(text)
    assert list(cascade.tasks) == ["X1"]
    assert cascade.warnings == ()


def test_duration_settings_may_be_written_in_words() -> None:
    """`- Timeout: 45 minutes` sets a 45-minute timeout."""
    cascade = parse_cascade(prose("- Timeout: 45 minutes\n- retry-delay: 1 hour 30 sec\n"))
    assert cascade.settings == Settings(timeout=2700.0, retry_delay=3630.0)


def test_dependency_on_a_row_with_an_error_says_that_row_has_the_error() -> None:
    """F2 depends on `F 1`, whose row was refused for its ID: nova says so, not "not defined"."""
    errors = errors_of(
        one_branch(
            "| F 1 | a | x | - |\n| F2 | b | x | F 1 |\n| F3 | c | x |\n| F4 | d | x | F3 |\n"
        )
    )
    assert [e for e in errors if "depends on" in e] == [
        "CASCADE.md:7: task 'F2' depends on 'F 1', whose row (line 6) has an error, so there is "
        "no task 'F 1'. Fix that row.",
        "CASCADE.md:9: task 'F4' depends on 'F3', whose row (line 8) has an error, so there is "
        "no task 'F3'. Fix that row.",
    ]


def test_task_table_without_outer_pipes_is_an_error_saying_rows_start_with_a_pipe() -> None:
    """`Task ID | Task Name | ...` above `---|---`: nova names the line and the fix instead of
    only saying that no tasks were found."""
    text = "# P\n\n## L1: App\n\nTask ID | Task Name | What Changes | Depends On\n---|---|---|---\n"
    assert errors_of(text + "F1 | Types | t | -\n") == [
        "CASCADE.md:5: this line looks like the header of a task table, but nova reads a table "
        "only from rows that start with '|', so it holds no tasks. Start every row of the table "
        "with '|', like '| Task ID | Task Name | What Changes | Depends On |' and "
        "'|---|---|---|---|'."
    ]


def test_prose_with_a_bar_is_no_task_table() -> None:
    """A line of text with `|` in it, even above a rule, is text."""
    text = one_branch("| F1 | a | x | - |\n") + "\nRead | write the ID | store\n---\n"
    assert parse_cascade(text).warnings == ()


def test_ids_separated_by_spaces_are_told_to_use_commas() -> None:
    text = (
        "# P\n\n## L1: A\n\n| Task ID | Task Name | What Changes | Depends On |\n"
        "|---|---|---|---|\n| F1 | a | x | - |\n| F3 | a | x | - |\n"
        "| F4 | a | x | F1 F3 |\n| F5 | a | x | F1 F9 |\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:9: task 'F4' depends on 'F1 F3'. Separate the IDs with commas: F1, F3.",
        "CASCADE.md:10: task 'F5' depends on 'F1 F9'. Task IDs have no spaces; separate "
        "several with commas.",
    ]


def test_the_instructions_of_a_task_whose_table_has_an_error_get_no_second_error() -> None:
    """The table lacks its Depends On column: that is the error, not '#### A1: One names no
    task'; a dependency on A1 says A1's row has an error."""
    text = (
        "# P\n\n## L1: A\n\n| Task ID | Task Name | What Changes |\n|---|---|---|\n"
        "| A1 | One | x |\n\n"
        "### L2: B\n| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"
        "| B1 | Two | x | A1 |\n\n#### A1: One\n- model: opus\n"
    )
    assert errors_of(text) == [
        "CASCADE.md:5: this task table has no 'Depends On' column (it has: Task ID, Task Name, "
        "What Changes). Add the column; write '-' for no dependencies.",
        "CASCADE.md:12: task 'B1' depends on 'A1', whose row (line 7) has an error, so there is "
        "no task 'A1'. Fix that row.",
    ]
