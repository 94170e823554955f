"""nova's benchmark suite: one command measures everything and prints a markdown table.

    python bench/run.py            # the full suite (many minutes)
    python bench/run.py --quick    # tiny inputs, seconds: proves the suite still runs
    python bench/run.py --only dispatch --against main --sizes 1000 --rounds 3
                                   # dispatch, this tree against another commit, A/B

Each row gives nova's number, a reference (make, cat, a bare Python loop, `python -c pass`),
their ratio, the target and PASS/MISS. The table goes to stdout and to bench/results/latest.md
(git-ignored), the raw numbers to latest.json beside it. Targets are for the full run on a
2-core machine; quick mode only shows that every benchmark still works. A benchmark that
cannot run at all shows ERROR and makes the exit code 1; a missed target never does.

nova runs with its bytecode cached in the work directory (PYTHONDONTWRITEBYTECODE is lifted
for it), as it would be once installed; every nova process gets a fresh state and logs dir.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # engine, for building a state document

import generate  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
POLL = 0.02
GROUPS = ("dispatch", "ingest", "status", "idle", "parse", "startup", "scaling")


@dataclass
class Config:
    quick: bool
    dispatch_n: tuple[int, ...]
    dispatch_repeats: tuple[int, ...]
    jobs: int = 8
    ingest_bytes: int = 300_000_000
    ingest_big_every: int = 40_000_000
    ingest_big_size: int = 6_000_000
    ingest_repeats: int = 3
    state_tasks: int = 10_000
    status_repeats: int = 7
    idle_agents: int = 50
    idle_seconds: float = 60.0
    parse_tasks: int = 10_000
    parse_repeats: int = 5
    startup_repeats: int = 10
    doit: bool = True
    doit_max_n: int = 5_000
    scaling_mb: tuple[float, ...] = (1, 2, 4, 8)
    scaling_repeats: int = 3

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False, dispatch_n=(1_000, 5_000), dispatch_repeats=(5, 3))
        return cls(
            quick=True,
            dispatch_n=(50, 100),
            dispatch_repeats=(2, 1),
            ingest_bytes=5_000_000,
            ingest_big_every=2_000_000,
            ingest_big_size=1_000_000,
            ingest_repeats=1,
            state_tasks=1_000,
            status_repeats=3,
            idle_seconds=2.0,
            parse_tasks=1_000,
            parse_repeats=3,
            startup_repeats=3,
            scaling_mb=(0.1, 0.2),
            scaling_repeats=1,
        )


@dataclass
class Row:
    id: str
    measure: str
    nova: str
    reference: str
    ratio: str
    target: str
    result: str  # PASS, MISS, INFO (no target), SKIP or ERROR
    notes: str = ""
    raw: dict[str, object] = field(default_factory=dict)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:,.2f} s"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# ---- processes ---------------------------------------------------------------------------------


class Env:
    """How to start nova and its references."""

    def __init__(self, work: Path) -> None:
        script = Path(sys.executable).parent / "nova"
        found = str(script) if script.exists() else shutil.which("nova")
        self.nova = [found] if found else [sys.executable, "-m", "engine"]
        self.python = sys.executable
        self.plain = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_")}
        self.env = dict(self.plain)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(HERE.parent), self.env.get("PYTHONPATH")) if p
        )
        self.against: tuple[str, list[str], dict[str, str]] | None = None

    def compare_with(self, rev: str, tree: Path) -> None:
        """Run this tree and `tree` (a checkout of `rev`) the same way, `python -m engine` with
        PYTHONPATH at the tree, so that the two differ only in their code."""
        self.nova = [self.python, "-m", "engine"]
        other = dict(self.env)
        other["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(tree), self.plain.get("PYTHONPATH")) if p
        )
        self.against = (rev, [self.python, "-m", "engine"], other)

    def run(
        self,
        argv: Sequence[str],
        cwd: Path | None = None,
        plain: bool = False,
        ok: Sequence[int] = (0,),
        env: dict[str, str] | None = None,
    ) -> float:
        """Run argv with output discarded; its wall time. RuntimeError if it fails."""
        began = time.perf_counter()
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=env if env is not None else self.plain if plain else self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        took = time.perf_counter() - began
        if proc.returncode not in ok:
            raise RuntimeError(
                f"{' '.join(argv)[:200]} exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace')[-600:]}"
            )
        return took

    def run_on_terminal(self, argv: Sequence[str]) -> tuple[float, int]:
        """Run argv with its stdout on a pseudo-terminal that is read as fast as it writes;
        its wall time and how many bytes it printed. RuntimeError if it fails."""
        import pty

        controller, terminal = pty.openpty()
        began = time.perf_counter()
        try:
            proc = subprocess.Popen(
                list(argv),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=terminal,
                stderr=subprocess.PIPE,
            )
            os.close(terminal)
            size = 0
            with contextlib.suppress(OSError):  # EIO once the program has closed its side
                while chunk := os.read(controller, 1 << 20):
                    size += len(chunk)
            stderr = proc.stderr.read() if proc.stderr else b""
            proc.wait()
        finally:
            os.close(controller)
        took = time.perf_counter() - began
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)[:200]} exited {proc.returncode}: "
                f"{stderr.decode(errors='replace')[-600:]}"
            )
        return took, size


def proc_stat(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of waited-for children) of a live or zombie process."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) / TICK for x in fields[11:15])
    return utime + stime, cutime + cstime


def peak_rss(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had, in bytes (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                out.extend(int(p) for p in handle.read().split())
    return out


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as handle:
            return handle.read().decode(errors="replace").strip()
    except OSError:
        return ""


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Measured:
    wall: float
    cpu: float  # the process's own CPU seconds, not its children's
    children_cpu: float  # CPU of the children it waited for (the agent, the guardian)
    peak_rss: int  # bytes
    samples_rss: int  # the largest RSS seen by polling, bytes
    returncode: int


def monitor(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path | None = None,
    on_poll: Callable[[int], None] | None = None,
    interval: float = POLL,
) -> Measured:
    """Run argv; poll its CPU and memory until it exits, then read the final numbers from the
    unreaped zombie (so nothing after the last poll is lost)."""
    import psutil

    began = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    handle = psutil.Process(proc.pid)
    hwm = rss = 0
    while True:
        exited = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if exited is not None:
            break
        hwm = max(hwm, peak_rss(proc.pid))
        with contextlib.suppress(psutil.Error):
            rss = max(rss, handle.memory_info().rss)
        if on_poll is not None:
            on_poll(proc.pid)
        time.sleep(interval)
    wall = time.perf_counter() - began
    cpu, children_cpu = proc_stat(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} exited {proc.returncode}: {err[-600:]}")
    # ru_maxrss covers the process and its waited-for children; VmHWM the process alone.
    return Measured(
        wall, cpu, children_cpu, max(hwm, rss) or usage.ru_maxrss * 1024, rss, proc.returncode
    )


# ---- benchmarks --------------------------------------------------------------------------------


class Suite:
    def __init__(self, cfg: Config, env: Env, work: Path, log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.env = env
        self.work = work
        self.log = log
        self._python_pass: float | None = None
        self._runs = 0

    def fresh(self, name: str) -> Path:
        self._runs += 1
        path = self.work / "runs" / f"{self._runs:04d}-{name}"
        (path / "logs").mkdir(parents=True)
        return path

    def nova_run(
        self, cascade: Path, agent: str, jobs: int, where: Path, nova: Sequence[str] = ()
    ) -> list[str]:
        return [
            *(nova or self.env.nova),
            "run",
            str(cascade),
            "-j",
            str(jobs),
            "--agent-cmd",
            agent,
            "--retries",
            "0",
            "-q",
            "--state-dir",
            str(where / "state"),
            "--logs-dir",
            str(where / "logs"),
        ]

    def python_pass(self) -> float:
        if self._python_pass is None:
            runs = [
                self.env.run([self.env.python, "-c", "pass"])
                for _ in range(max(5, self.cfg.startup_repeats))
            ]
            self._python_pass = median(runs)
        return self._python_pass

    def warm_up(self) -> None:
        """One run of each command, so the bytecode cache is written before anything counts."""
        where = self.fresh("warm-up")
        cascade = where / "CASCADE.md"
        cascade.write_text(generate.cascade_md(generate.graph("layered", 60)))
        self.env.run(self.nova_run(cascade, generate.ECHO_AGENT, 4, where), cwd=where)
        self.env.run([*self.env.nova, "status", "--state-dir", str(where / "state")])
        self.env.run([*self.env.nova, "status", "--json", "--state-dir", str(where / "state")])
        self.env.run([*self.env.nova, "validate", str(cascade)])
        self.env.run([*self.env.nova, "--help"])
        if self.env.against is not None:
            _, nova, env = self.env.against
            argv = self.nova_run(cascade, generate.ECHO_AGENT, 4, where / "against", nova)
            self.env.run(argv, cwd=where, env=env)
        shutil.rmtree(where)

    # -- 1. dispatch --

    def doit_ready(self) -> str | None:
        """None if doit can run, else why not. The full run installs it when it is missing."""
        if not self.cfg.doit:
            return "doit skipped (--no-doit)"
        if importlib.util.find_spec("doit") is None:
            if self.cfg.quick:
                return "doit not installed (quick mode never installs it)"
            self.log("installing doit into this Python for the comparison ...")
            done = subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "doit"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            importlib.invalidate_caches()
            if done.returncode != 0 or importlib.util.find_spec("doit") is None:
                return "doit not available (pip install doit failed)"
        return None

    def dispatch(self) -> list[Row]:
        cfg = self.cfg
        rows: list[Row] = []
        doit_missing = self.doit_ready()
        for shape in generate.SHAPES:
            per_task: dict[int, float] = {}
            make_per_task: dict[int, float] = {}
            overhead: dict[int, float] = {}
            for size, (n, repeats) in enumerate(
                zip(cfg.dispatch_n, cfg.dispatch_repeats, strict=True)
            ):
                g = generate.graph(shape, n)
                home = self.work / f"graph-{shape}-{n}"
                home.mkdir()
                cascade = home / "CASCADE.md"
                cascade.write_text(generate.cascade_md(g, f"{shape} {n}"))
                (home / "graph.mk").write_text(generate.makefile(g))
                (home / "dodo.py").write_text(generate.dodo(g))
                tools = ["nova", "make"]
                if self.env.against is not None:
                    tools.append("before")
                if doit_missing is None and n <= cfg.doit_max_n:
                    tools.append("doit")
                times: dict[str, list[float]] = {t: [] for t in tools}
                for r in range(repeats):
                    for tool in tools[r % len(tools) :] + tools[: r % len(tools)]:
                        where = self.fresh(f"{tool}-{shape}-{n}")
                        env = None
                        if tool == "nova":
                            argv = self.nova_run(cascade, generate.ECHO_AGENT, cfg.jobs, where)
                        elif tool == "before":
                            assert self.env.against is not None
                            _, nova_before, env = self.env.against
                            argv = self.nova_run(
                                cascade, generate.ECHO_AGENT, cfg.jobs, where, nova_before
                            )
                        elif tool == "make":
                            argv = ["make", "-s", "-f", str(home / "graph.mk"), "-j", str(cfg.jobs)]
                        else:
                            argv = [
                                sys.executable,
                                "-m",
                                "doit",
                                "run",
                                "-f",
                                str(home / "dodo.py"),
                                "-d",
                                str(where),
                                "--db-file",
                                str(where / ".doit.db"),
                                "-n",
                                str(cfg.jobs),
                                "-P",
                                "process",
                            ]
                        times[tool].append(self.env.run(argv, cwd=where, env=env))
                        if len(list((where / "logs").glob("*.log"))) != n:
                            raise RuntimeError(f"{tool} did not write {n} task logs")
                        # Not deleted until the suite ends: ext4 skips inodes freed in the
                        # last ~30 s when it allocates new ones, so after deleting thousands
                        # of files, creating a file costs 0.3-0.7 ms instead of 0.03 ms, and
                        # the next run (whichever tool) would measure the deletion.
                nova, make = median(times["nova"]), median(times["make"])
                per_task[n] = nova / n
                make_per_task[n] = make / n
                overhead[n] = (nova - make) / n
                notes = [
                    f"overhead {overhead[n] * 1000:.2f} ms/task",
                    f"runs: {', '.join(f'{t:.2f}' for t in times['nova'])} s",
                ]
                if "before" in times and self.env.against is not None:
                    before = median(times["before"])
                    notes.append(
                        f"{self.env.against[0]}: {secs(before)} (this tree/{self.env.against[0]} "
                        f"{nova / before:.2f}x; runs: "
                        f"{', '.join(f'{t:.2f}' for t in times['before'])} s)"
                    )
                if "doit" in times:
                    doit = median(times["doit"])
                    notes.append(f"doit -n {cfg.jobs}: {secs(doit)} (nova/doit {nova / doit:.2f}x)")
                elif doit_missing:
                    notes.append(doit_missing)
                elif n > cfg.doit_max_n:
                    notes.append(f"doit not run above N={cfg.doit_max_n:,}")
                first = size == 0
                rows.append(
                    Row(
                        id=f"dispatch.{shape}.{'small' if first else 'large'}",
                        measure=f"wall time, {shape}, N={n:,}, -j {cfg.jobs}",
                        nova=secs(nova),
                        reference=f"make {secs(make)}",
                        ratio=f"{nova / make:.2f}x",
                        target="≤ 1.30x make" if first else "(see scaling)",
                        result=verdict(nova / make <= 1.3) if first else "INFO",
                        notes="; ".join(notes),
                        raw={
                            "n": n,
                            "nova": times["nova"],
                            "make": times["make"],
                            "doit": times.get("doit", []),
                            "before": times.get("before", []),
                        },
                    )
                )
                self.log(
                    f"dispatch {shape} N={n}: nova {nova:.2f}s make {make:.2f}s "
                    f"({nova / make:.2f}x) load {load()}"
                )
            if len(cfg.dispatch_n) < 2:
                continue  # one size (--sizes): no scaling to judge
            small, large = cfg.dispatch_n
            # nova's time per task measured against make's at the same N: the file system
            # (directories of N logs) and the machine slow both as N grows, and the question
            # is whether nova grows faster than make does (a quadratic step of its own).
            growth = (per_task[large] / make_per_task[large]) / (
                per_task[small] / make_per_task[small]
            )
            rows.append(
                Row(
                    id=f"dispatch.{shape}.scaling",
                    measure=f"nova/make per task, {shape}, N={large:,} vs N={small:,}",
                    nova=f"{per_task[large] / make_per_task[large]:.2f}x",
                    reference=f"{per_task[small] / make_per_task[small]:.2f}x",
                    ratio=f"{growth:.2f}x",
                    target="≤ 1.10x (no growth; 10% noise)",
                    result=verdict(growth <= 1.10),
                    notes=f"nova {per_task[small] * 1000:.2f} → "
                    f"{per_task[large] * 1000:.2f} ms/task, "
                    f"make {make_per_task[small] * 1000:.2f} → "
                    f"{make_per_task[large] * 1000:.2f} ms/task; overhead vs make "
                    f"{overhead[small] * 1000:.2f} → {overhead[large] * 1000:.2f} ms/task",
                )
            )
        return rows

    # -- 2. ingest --

    def ingest(self) -> list[Row]:
        cfg = self.cfg
        stream = self.work / "stream.jsonl"
        size = generate.write_stream(
            stream, cfg.ingest_bytes, big_every=cfg.ingest_big_every, big_size=cfg.ingest_big_size
        )
        with open(stream, "rb") as handle:
            longest = max(len(line) for line in handle)
        empty = self.work / "empty.jsonl"
        empty.write_bytes(b"")
        cascade = self.work / "ingest.md"
        cascade.write_text(generate.cascade_md(generate.graph("wide", 1), "ingest"))
        mb = size / 1e6

        def nova(path: Path) -> Measured:
            where = self.fresh("ingest")
            got = monitor(self.nova_run(cascade, f"cat {path}", 1, where), self.env.env, cwd=where)
            raw = where / "logs" / "raw" / "T1-1.stdout"
            kept = raw.stat().st_size if raw.exists() else 0  # made at the first output
            if kept != path.stat().st_size:
                raise RuntimeError("nova's raw log is not the agent's whole output")
            shutil.rmtree(where)
            return got

        loop = (
            "import subprocess, sys\n"
            "p = subprocess.Popen(['cat', sys.argv[1]], stdout=subprocess.PIPE)\n"
            "with open(sys.argv[2], 'wb') as out:\n"
            "    while chunk := p.stdout.read1(1 << 18):\n"
            "        out.write(chunk)\n"
            "p.wait()\n"
        )

        def python_loop(path: Path) -> Measured:
            out = self.work / "loop.out"
            got = monitor([self.env.python, "-c", loop, str(path), str(out)], self.env.env)
            out.unlink()
            return got

        base = min((nova(empty) for _ in range(2)), key=lambda m: m.cpu)
        runs = [nova(stream) for _ in range(cfg.ingest_repeats)]
        best = min(runs, key=lambda m: m.cpu)
        loop_base = min(python_loop(empty).cpu for _ in range(2))
        loops = [python_loop(stream) for _ in range(cfg.ingest_repeats)]
        loop_cpu = min(m.cpu for m in loops) - loop_base
        cat = monitor(["cat", str(stream)], self.env.env)
        nova_cpu = median([m.cpu for m in runs]) - base.cpu
        per_100 = nova_cpu / mb * 100
        loop_per_100 = max(loop_cpu, 1e-9) / mb * 100
        rate = mb / nova_cpu if nova_cpu > 0 else float("inf")
        peak = max(m.peak_rss for m in runs)
        self.log(
            f"ingest {mb:.0f} MB: nova cpu {nova_cpu:.2f}s ({rate:.0f} MB/s) peak "
            f"{peak / 2**20:.0f} MiB load {load()}"
        )
        return [
            Row(
                id="ingest.cpu",
                measure=f"nova CPU per 100 MB of stream-json ({mb:,.0f} MB, longest line "
                f"{longest / 1e6:.1f} MB)",
                nova=secs(per_100),
                reference=f"python pipe loop {secs(loop_per_100)}",
                ratio=f"{per_100 / loop_per_100:.1f}x",
                target="≤ 1.00 s (≥ 100 MB/s/core)",
                result=verdict(rate >= 100),
                notes=f"{rate:,.0f} MB/s per core; net of a run with empty output "
                f"({secs(base.cpu)}); cat > /dev/null {secs(cat.cpu)} total; "
                f"wall {secs(median([m.wall for m in runs]))}; "
                f"best {secs(best.cpu - base.cpu)}",
                raw={
                    "bytes": size,
                    "nova_cpu": [m.cpu for m in runs],
                    "base_cpu": base.cpu,
                    "loop_cpu": [m.cpu for m in loops],
                    "loop_base": loop_base,
                    "cat_cpu": cat.cpu,
                },
            ),
            Row(
                id="ingest.rss",
                measure="nova peak RSS while ingesting",
                nova=f"{peak / 2**20:,.0f} MiB",
                reference=f"python pipe loop {max(m.peak_rss for m in loops) / 2**20:,.0f} MiB",
                ratio=f"{peak / max(m.peak_rss for m in loops):.1f}x",
                target="< 100 MiB",
                result=verdict(peak < 100 * 2**20),
                notes=f"idle nova run: {base.peak_rss / 2**20:.0f} MiB",
                raw={"peak_rss": [m.peak_rss for m in runs], "base_rss": base.peak_rss},
            ),
        ]

    # -- 3. status --

    def write_state(self, n: int, name: str) -> Path:
        from engine.observe.store import StateStore

        where = self.work / name
        StateStore(where).write(generate.state_doc(n, time.time()))
        return where

    def status(self) -> list[Row]:
        cfg = self.cfg
        state = self.write_state(cfg.state_tasks, f"state-{cfg.state_tasks}")
        size = (state / "state.json").stat().st_size
        ref = self.python_pass()
        rows = []
        for flag, label in (([], "text"), (["--json"], "json")):
            argv = [*self.env.nova, "status", *flag, "--state-dir", str(state)]
            self.env.run(argv)
            times = [self.env.run(argv) for _ in range(cfg.status_repeats)]
            took = median(times)
            notes = f"min {ms(min(times))}, max {ms(max(times))}"
            raw: dict[str, object] = {"times": times, "python_pass": ref}
            if flag:
                # To a pipe (as measured) the JSON is compact; to a terminal it is indented
                # for a person to read, which takes longer: shown here, without a target.
                self.env.run_on_terminal(argv)
                runs = [self.env.run_on_terminal(argv) for _ in range(3)]
                on_terminal = median([t for t, _ in runs])
                notes += (
                    f"; compact, as stdout is not a terminal. To a terminal (indented, "
                    f"{runs[0][1] / 1e6:.1f} MB): {ms(on_terminal)}"
                )
                raw["terminal_times"] = [t for t, _ in runs]
            rows.append(
                Row(
                    id=f"status.{label}",
                    measure=f"nova status {' '.join(flag)}".strip()
                    + f", {cfg.state_tasks:,} tasks ({size / 1e6:.1f} MB state)",
                    nova=ms(took),
                    reference=f"python -c pass {ms(ref)}",
                    ratio=f"{took / ref:.1f}x",
                    target="< 300 ms",
                    result=verdict(took < 0.3),
                    notes=notes,
                    raw=raw,
                )
            )
            self.log(f"status {label}: {took * 1000:.0f} ms load {load()}")
        return rows

    # -- 4. idle --

    def idle(self) -> list[Row]:
        cfg = self.cfg
        n = cfg.idle_agents
        where = self.fresh("idle")
        cascade = where / "CASCADE.md"
        cascade.write_text(generate.cascade_md(generate.graph("wide", n), "idle"))
        agent = f"sleep {cfg.idle_seconds:g}"
        window: list[tuple[float, float]] = []  # (time, nova + guardian CPU) with all asleep
        ended = [False]

        def poll(pid: int) -> None:
            if ended[0]:
                return
            kids = children(pid)
            sleeping = [k for k in kids if comm(k) == "sleep"]
            if len(sleeping) < n:
                if window:  # the first agent finished: the idle minute is over
                    ended[0] = True
                return
            cpu = proc_stat(pid)[0]
            for k in kids:
                if "engine.executors.guardian" in cmdline(k):
                    with contextlib.suppress(OSError):
                        cpu += proc_stat(k)[0]
            window.append((time.perf_counter(), cpu))

        monitor(
            self.nova_run(cascade, agent, n, where),
            self.env.env,
            cwd=where,
            on_poll=poll,
            interval=0.25,
        )
        shutil.rmtree(where)
        if len(window) < 2:
            raise RuntimeError("never saw all agents asleep at once")
        (t0, c0), (t1, c1) = window[0], window[-1]
        share = (c1 - c0) / (t1 - t0) * 100
        self.log(f"idle: {share:.2f}% of a core over {t1 - t0:.1f}s load {load()}")
        return [
            Row(
                id="idle.cpu",
                measure=f"nova CPU with {n} agents asleep ({agent}, -j {n})",
                nova=f"{share:.2f}% of a core",
                reference="-",
                ratio="-",
                target="< 1%",
                result=verdict(share < 1.0),
                notes=f"{c1 - c0:.2f} s CPU over {t1 - t0:.1f} s (nova + its guardian); "
                f"CPU is counted in {1000 / TICK:.0f} ms ticks",
                raw={"cpu": c1 - c0, "seconds": t1 - t0},
            )
        ]

    # -- 5. parse --

    def parse(self) -> list[Row]:
        cfg = self.cfg
        cascade = self.work / "parse.md"
        cascade.write_text(generate.cascade_md(generate.graph("layered", cfg.parse_tasks), "parse"))
        argv = [*self.env.nova, "validate", str(cascade)]
        self.env.run(argv)
        times = [self.env.run(argv) for _ in range(cfg.parse_repeats)]
        took = median(times)
        ref = self.python_pass()
        self.log(f"parse: {took * 1000:.0f} ms load {load()}")
        return [
            Row(
                id="parse.validate",
                measure=f"nova validate, {cfg.parse_tasks:,}-task CASCADE.md "
                f"({cascade.stat().st_size / 1e6:.1f} MB)",
                nova=ms(took),
                reference=f"python -c pass {ms(ref)}",
                ratio=f"{took / ref:.1f}x",
                target="< 1 s",
                result=verdict(took < 1.0),
                notes=f"min {ms(min(times))}, max {ms(max(times))}",
                raw={"times": times},
            )
        ]

    # -- 6. start-up --

    def startup(self) -> list[Row]:
        cfg = self.cfg
        state = self.write_state(8, "state-small")
        ref = self.python_pass()
        rows = []
        for label, args in (
            ("help", ["--help"]),
            ("status", ["status", "--state-dir", str(state)]),
        ):
            argv = [*self.env.nova, *args]
            self.env.run(argv)
            times = [self.env.run(argv) for _ in range(cfg.startup_repeats)]
            cold = self.env.run(argv, plain=True)
            took = median(times)
            rows.append(
                Row(
                    id=f"startup.{label}",
                    measure=f"nova {' '.join(args[:1])}"
                    + (" (8 tasks)" if label == "status" else ""),
                    nova=ms(took),
                    reference=f"python -c pass {ms(ref)}",
                    ratio=f"{took / ref:.1f}x",
                    target="< 150 ms",
                    result=verdict(took < 0.15),
                    notes=f"min {ms(min(times))}; without nova's bytecode cached: {ms(cold)}",
                    raw={"times": times, "python_pass": ref, "no_bytecode": cold},
                )
            )
            self.log(f"startup {label}: {took * 1000:.0f} ms load {load()}")
        return rows

    # -- 7. validate against plan size --

    def scaling(self) -> list[Row]:
        """What `nova validate` does (decode, parse, graph, waves) per MB of plan at growing
        sizes, for a plain plan and one of lines of 40,000 spaces: timed in this process, so
        start-up noise does not drown milliseconds. Linear reading keeps the cost per MB flat
        (ratio ~1x); a quadratic expression makes it grow with the size. The real command's
        wall time on the largest plan is in the notes."""
        cfg = self.cfg
        rows = []
        for kind, make in (("normal", plain_plan), ("hostile", hostile_plan)):
            per_mb: dict[float, float] = {}
            for mb in cfg.scaling_mb:
                path = self.work / f"scaling-{kind}-{mb:g}.md"
                path.write_text(make(int(mb * 1_000_000)))
                took = median([validate_seconds(path) for _ in range(cfg.scaling_repeats)])
                per_mb[mb] = took / (path.stat().st_size / 1e6)
                self.log(f"scaling {kind} {mb:g} MB: {per_mb[mb] * 1000:.1f} ms/MB")
            wall = self.env.run([*self.env.nova, "validate", str(path)], ok=(0, 2))
            ratio = per_mb[max(per_mb)] / per_mb[min(per_mb)]
            rows.append(
                Row(
                    id=f"scaling.{kind}",
                    measure=f"validate per MB of a {kind} plan, "
                    f"{' / '.join(f'{mb:g}' for mb in per_mb)} MB; ratio largest/smallest",
                    nova=" · ".join(f"{v * 1000:.1f}" for v in per_mb.values()) + " ms/MB",
                    reference="flat (linear)",
                    ratio=f"{ratio:.2f}x",
                    target="< 2x",
                    result=verdict(ratio < 2.0),
                    notes=f"nova validate of the {max(per_mb):g} MB plan: {secs(wall)}",
                    raw={"ms_per_mb": per_mb, "wall_largest": wall},
                )
            )
        return rows


def validate_seconds(path: Path) -> float:
    """Seconds `nova validate` spends on the plan itself (a plan with errors counts too)."""
    from engine.errors import CascadeError
    from engine.plan.cascade import decode_cascade, parse_cascade
    from engine.plan.graph import build_graph

    began = time.perf_counter()
    with contextlib.suppress(CascadeError):
        build_graph(parse_cascade(decode_cascade(path.read_bytes(), str(path)), str(path))).waves()
    return time.perf_counter() - began


def plain_plan(size: int) -> str:
    """A generated layered plan of about `size` bytes (a task is about 80)."""
    n = max(generate.LAYER, size // 80 // generate.LAYER * generate.LAYER)
    return generate.cascade_md(generate.graph("layered", n), "scaling")


def hostile_plan(size: int) -> str:
    """About `size` bytes of plan whose lines hold runs of 40,000 spaces before a letter, in
    every place a line can be: headings, text, a settings label, a list, table cells, a
    task's instructions (the line that once took validate 19.5 s)."""
    run = " " * min(40_000, max(100, size // 40))
    blocks = ["# Hostile", ""]
    k, total = 0, 0
    while total < size:
        k += 1
        block = "\n".join(
            [
                f"## L1: Branch {k}{run}x",
                f"{run}x",
                f"**settings{run}x",
                f"- a{run}b: c{run}x",
                "| Task ID | Task Name | What Changes | Depends On |",
                "|---|---|---|---|",
                f"| H{k} | a{run}x | b{run}x | -{run} |",
                f"#### H{k}: a{run}x",
                f"{run}x",
                "",
            ]
        )
        blocks.append(block)
        total += len(block)
    return "\n".join(blocks)


# ---- report ------------------------------------------------------------------------------------

COLUMNS = ("benchmark", "measure", "nova", "reference", "ratio", "target", "result", "notes")


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = (r.id, r.measure, r.nova, r.reference, r.ratio, r.target, r.result, r.notes)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def filesystem(path: Path) -> str:
    """The mount a path is on, as `type (device) at mountpoint`."""
    best = ("?", "?", "/")
    with contextlib.suppress(OSError), open("/proc/self/mounts") as handle:
        for line in handle:
            device, point, kind = line.split()[:3]
            if str(path.resolve()).startswith(point) and len(point) >= len(best[2]):
                best = (kind, device, point)
    return f"{best[0]} ({best[1]}) at {best[2]}"


def report(rows: list[Row], cfg: Config, started: float, loads: tuple[str, str], where: str) -> str:
    m = machine()
    mode = "quick (tiny inputs: targets apply to the full run)" if cfg.quick else "full"
    mode += f"; work directory on {where}"
    head = (
        f"# nova benchmarks — {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}\n\n"
        f"Mode: {mode}. Machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}. "
        f"Load average (1/5/15 min) {loads[0]} at start, {loads[1]} at end. "
        f"Took {time.time() - started:.0f} s.\n\n"
    )
    counts = {k: sum(1 for r in rows if r.result == k) for k in ("PASS", "MISS", "ERROR")}
    tail = (
        f"\n{counts['PASS']} PASS, {counts['MISS']} MISS, {counts['ERROR']} ERROR. "
        "Medians of repeated runs; ratios are nova / reference.\n"
    )
    return head + table(rows) + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs; finishes in seconds")
    parser.add_argument("--only", metavar="GROUPS", help=f"comma list of {', '.join(GROUPS)}")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "latest.md",
        help="where the markdown table goes (latest.json beside it)",
    )
    parser.add_argument("--no-doit", action="store_true", help="skip the doit comparison")
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also run the dispatch benchmark with the engine of commit REV (a git worktree "
        "in the work directory), taking turns with this tree and make",
    )
    parser.add_argument(
        "--sizes", metavar="N,N", help="dispatch graph sizes (default 1000,5000; 50,100 quick)"
    )
    parser.add_argument("--rounds", type=int, metavar="R", help="runs of each dispatch size")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the work directory goes (default: the system's temp dir); "
        "e.g. /dev/shm to take the disk out of the dispatch numbers",
    )
    args = parser.parse_args(argv)
    groups = args.only.split(",") if args.only else list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    cfg = Config.make(args.quick)
    cfg.doit = not args.no_doit
    if args.sizes:
        cfg.dispatch_n = tuple(int(n) for n in args.sizes.split(","))
        last = len(cfg.dispatch_repeats) - 1
        cfg.dispatch_repeats = tuple(
            cfg.dispatch_repeats[min(i, last)] for i in range(len(cfg.dispatch_n))
        )
    if args.rounds:
        cfg.dispatch_repeats = tuple(args.rounds for _ in cfg.dispatch_n)
    started = time.time()
    first_load = load()
    work = Path(tempfile.mkdtemp(prefix="nova-bench-", dir=args.dir))

    def log(message: str) -> None:
        print(f"[{time.time() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    place = filesystem(work)
    rows: list[Row] = []
    tree = work / "against"
    try:
        env = Env(work)
        if args.against:
            add = ["git", "-C", str(HERE.parent), "worktree", "add", "--detach", "--quiet"]
            subprocess.run([*add, str(tree), args.against], check=True)
            env.compare_with(args.against, tree)
            found = subprocess.run(
                [env.python, "-c", "import engine; print(engine.__file__)"],
                cwd=work,
                env=env.against[2] if env.against else None,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if not found.startswith(str(tree)):
                raise RuntimeError(f"--against runs {found}, not the engine of {args.against}")
        suite = Suite(cfg, env, work, log)
        log(f"work directory {work}; nova is {' '.join(env.nova)}; load {first_load}")
        suite.warm_up()
        for group in groups:
            # Write back what the last group left dirty (ingest writes 600 MB) before the
            # next one is timed, so that no group measures another's writeback.
            os.sync()
            try:
                rows += getattr(suite, group)()
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc()
                rows.append(
                    Row(
                        id=f"{group}",
                        measure="(benchmark failed)",
                        nova="-",
                        reference="-",
                        ratio="-",
                        target="-",
                        result="ERROR",
                        notes=f"{type(exc).__name__}: {str(exc)[:300]}",
                    )
                )
    finally:
        if args.against and tree.exists():
            subprocess.run(
                ["git", "-C", str(HERE.parent), "worktree", "remove", "--force", str(tree)],
                check=False,
            )
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report(rows, cfg, started, (first_load, load()), place)
    sys.stdout.write(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {"machine": machine(), "quick": cfg.quick, "rows": [asdict(r) for r in rows]}, indent=1
        )
    )
    return 1 if any(r.result == "ERROR" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
