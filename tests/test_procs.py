"""Finding a task's processes (engine.executors.procs): start times as psutil reads them, and
orphans that left the agent's session found by their marker once the agent is gone."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import psutil

from engine.executors import procs


def test_create_time_matches_psutil_for_this_process_and_a_child() -> None:
    """The /proc reading agrees with psutil, which the next run uses to recognise survivors."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        for pid in (os.getpid(), child.pid):
            ours = procs.create_time(pid)
            assert ours is not None
            assert abs(ours - psutil.Process(pid).create_time()) < 0.01
            assert procs.same_process(pid, ours)
    finally:
        child.kill()
        child.wait()


def test_create_time_of_a_process_that_is_gone_is_none() -> None:
    """A pid that names no process has no start time (and is never 'the same process')."""
    child = subprocess.Popen(["true"])
    child.wait()
    assert procs.create_time(child.pid) is None
    assert not procs.same_process(child.pid, time.time())


def test_an_orphan_in_its_own_session_is_found_by_its_marker_and_can_be_ended() -> None:
    """A grandchild that called setsid and outlived its parent is an orphan of this process
    (the subreaper), carries the task's marker, and is found among the leftovers."""
    assert procs.enable_subreaper()
    marker = "NOVA_TASK_TOKEN=test-procs/T1/1"
    env = dict(os.environ, NOVA_TASK_TOKEN="test-procs/T1/1")
    code = (
        "import subprocess, sys; p = subprocess.Popen(['sleep', '30'], "
        "start_new_session=True, stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); print(p.pid)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    grandchild = int(out.stdout)
    try:
        strays = procs.orphans(managed=set())
        assert grandchild in strays
        assert procs.leftovers(marker.encode(), strays) == [grandchild]
        assert procs.leftovers(b"NOVA_TASK_TOKEN=other/T1/1", strays) == []
    finally:
        procs.send([grandchild], procs.KILL)
        # An orphan re-parented to this process (the subreaper) is its child: awaited.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(grandchild, 0)
    assert grandchild not in procs.own_children()
