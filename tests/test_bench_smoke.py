"""The benchmark suite still runs end to end: `bench/run.py --quick` completes and reports every
benchmark. Whether nova meets the targets is the suite's business, never a test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = [
    "dispatch.wide.small",
    "dispatch.wide.large",
    "dispatch.wide.scaling",
    "dispatch.chain.small",
    "dispatch.chain.large",
    "dispatch.chain.scaling",
    "dispatch.layered.small",
    "dispatch.layered.large",
    "dispatch.layered.scaling",
    "ingest.cpu",
    "ingest.rss",
    "status.text",
    "status.json",
    "idle.cpu",
    "parse.validate",
    "startup.help",
    "startup.status",
    "scaling.normal",
    "scaling.hostile",
]


def test_quick_benchmark_run_reports_every_benchmark_without_errors(tmp_path: Path) -> None:
    """`bench/run.py --quick` exits 0 and its table has a measured row for every benchmark."""
    out = tmp_path / "latest.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-doit", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = out.read_text()
    assert table in proc.stdout
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ")]
    ids = [cells[0].removeprefix("| ") for cells in rows[1:]]
    assert ids == EXPECTED
    results = {cells[0].removeprefix("| "): cells[6] for cells in rows[1:]}
    assert set(results.values()) <= {"PASS", "MISS", "INFO"}, results
    doc = json.loads(out.with_suffix(".json").read_text())
    assert [row["id"] for row in doc["rows"]] == EXPECTED
