"""The processes below a process, found and ended: what a task started ends with the task.

A task may start processes that outlive it: a ``sleep &`` in a shell, a server, a daemon that
forks twice and calls ``setsid`` to leave its parent's session and process group. On Linux the
local backend's workers are *child subreapers* (``prctl(PR_SET_CHILD_SUBREAPER)``): a process
whose parent dies is re-parented to the nearest subreaper above it instead of init, so whatever a
task started, daemonised or not, stays a descendant of its worker until the worker ends it.
Elsewhere a worker's process group (``os.setpgrp``) is what can be reached.

Descendants are read from ``/proc`` (psutil where there is no ``/proc``, when installed). Nothing
here imports the kernel: the task runtime and the workers use it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36  #: from <linux/prctl.h>
#: rounds of SIGKILL before giving up on a process that keeps forking (each round finds the
#: children made since the last one)
KILL_ROUNDS = 100


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_children() -> bool:
    """Collect this process's exited children; True while some are still running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def living_descendants(root: int) -> list[int]:
    """Every descendant of ``root`` that has not exited (zombies left out), parents first."""
    if os.path.isdir("/proc"):
        return _proc_descendants(root)
    try:
        import psutil
    except ImportError:
        return []
    try:
        found = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return []
    return [p.pid for p in found if _psutil_alive(p)]


def _psutil_alive(process) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _proc_descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    living: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        if fields[0] != b"Z":
            living.add(pid)
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child in living:
                found.append(child)
            stack.append(child)
    return found


def end_descendants(root: int, grace: float = 1.0) -> None:
    """SIGTERM every descendant of ``root``, SIGKILL those left after ``grace`` seconds, until
    none is left (a process forking meanwhile is found on the next round). When ``root`` is
    this process, its exited children are collected too."""
    own = root == os.getpid()
    living = living_descendants(root)
    for pid in living:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while living and time.monotonic() < deadline:
        time.sleep(0.02)
        if own:
            reap_children()
        living = living_descendants(root)
    for _ in range(KILL_ROUNDS):
        if not living:
            break
        for pid in living:
            _signal(pid, _SIGKILL)
        time.sleep(0.005)
        if own:
            reap_children()
        living = living_descendants(root)
    if own:
        reap_children()


def kill_tree(root: int) -> None:
    """SIGKILL ``root``, its process group and every descendant, at once. ``root`` is stopped
    first so that it starts nothing more while its descendants are ended."""
    _signal(root, getattr(signal, "SIGSTOP", _SIGKILL))
    for _ in range(KILL_ROUNDS):
        living = living_descendants(root)
        if not living:
            break
        for pid in living:
            _signal(pid, _SIGKILL)
        time.sleep(0.002)
    try:
        os.killpg(root, _SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass  # not a group leader, or no process groups here
    _signal(root, _SIGKILL)


_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or not ours to stop
