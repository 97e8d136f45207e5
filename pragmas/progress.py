"""The live display of a running job in its cell, and its account for terminal frontends.

One display (one ``display_id``) is updated in place while the job runs: a progress bar, each
task's state and time, the elapsed time and the backend's dashboard link, as HTML with a
text/plain fallback. Backend threads report events through :meth:`JobProgress.listener`, which
only records them; a refresher thread redraws at most five times a second (and once a second
while tasks run, for the clock). Task output goes to the cell as it comes: text prefixed with
``[task]``, pictures as display outputs. When the job ends the same display becomes the
summary: wall time, total task time, speed-up and the counts. The final state is drawn from the
thread that finishes the run, before anyone waiting for the run wakes up, so it is out even when
the kernel stops the job on its way out ("stopped: kernel restarting").

The HTML takes its colours from JupyterLab's theme variables (``var(--jp-...)``), each with a
fallback for other frontends, and leaves the text colour to the frontend: readable in light
and dark themes. A running display carries a note, hidden by a CSS animation that each redraw
restarts, which shows once no redraw came for :data:`STALE_AFTER` seconds: JupyterLab drops
every message of a kernel it restarts, so this note is how a display there stops claiming that
a job runs when its kernel is gone.

Terminal frontends (``jupyter console``) print what a kernel publishes but ignore
``update_display_data``: they would see only the first, all-pending state. So the job also
writes an account, append-only: one line per change of a task's state, then the final state
in full. It goes out through :meth:`OutputContext.stream_to_session`, addressed to the client
session that submitted the job but to none of its requests: a terminal frontend prints what its
session caused, while notebook frontends (JupyterLab, Notebook, nbclient) file outputs under the
request that caused them and so show only the live display, without duplicates.
"""

from __future__ import annotations

import html
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas.backends.base import TaskEvent, TaskState
from pragma_kernel.pragmas.task_files import FileTraffic, traffic_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.backends.base import Backend, JobPlan, JobRun

#: the colour of a task's state: JupyterLab's theme variable, then a fallback for frontends
#: without it (the same hues as the DAG picture's)
STATE_COLOURS = {
    "pending": "var(--jp-layout-color3, #bdbdbd)",
    "running": "var(--jp-brand-color1, #1976d2)",
    "done": "var(--jp-success-color1, #388e3c)",
    "failed": "var(--jp-error-color1, #d32f2f)",
    "skipped": "var(--jp-layout-color4, #757575)",
    "cancelled": "var(--jp-warn-color1, #f57c00)",
}
BAR_BACKGROUND = "var(--jp-layout-color2, #eee)"
MUTED_TEXT = "var(--jp-content-font-color2, #666)"
MIN_INTERVAL = 0.2  #: seconds between two redraws (at most five a second)
TABLE_LIMIT = 40  #: above this many tasks, a grid of squares instead of a table
#: seconds without a redraw after which a running display says it may be stale (redraws come
#: at least once a second while the job runs)
STALE_AFTER = 10
#: above TABLE_LIMIT tasks the account gives counts, at most once per this many seconds (and
#: every failure by name), instead of a line per task
ACCOUNT_INTERVAL = 5.0
_BAR_WIDTH = 30
_STALE_STYLE = (
    "<style>@keyframes pragma-job-stale{to{visibility:visible;max-height:6em}}</style>"
)


class JobProgress:
    """The display of one job run in the cell that submitted it, and its account."""

    def __init__(self, ctx: OutputContext, plan: JobPlan, backend: Backend):
        self.ctx = ctx
        self.plan = plan
        self.backend_text = backend.describe()
        self.dashboard = backend.dashboard_url()
        self.display_id = f"pragma-job-{uuid.uuid4().hex}"
        self.run: JobRun | None = None
        self.started = time.time()
        self.states: dict[str, TaskState] = dict.fromkeys(plan.tasks, TaskState.PENDING)
        self.reused: set[str] = set()
        #: cache=on: where the reused tasks come from and why the others ran, a line a group
        self.reuse_lines: list[str] = []
        self._told = dict(self.states)  #: the states the account has given so far
        self._told_counts_at = 0.0
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stopped = threading.Event()
        self._final_drawn = False
        self._draw_lock = threading.Lock()
        self._refresher: threading.Thread | None = None

    # -- events (backend threads) ------------------------------------------------------------
    def listener(self, event: TaskEvent) -> None:
        if event.kind == "state" and event.state is not None:
            with self._lock:
                self.states[event.task] = event.state
            self._dirty.set()
        elif event.kind == "output" and event.output is not None:
            self._show_output(event)

    def _show_output(self, event: TaskEvent) -> None:
        output = event.output
        assert output is not None
        label = event.task if event.replica is None else f"{event.task}[{event.replica}]"
        if output.kind == "stream":
            self.ctx.stream(output.name or "stdout", prefix_lines(output.text, f"[{label}] "))
        else:
            show_task_display(self.ctx, output, event.task, event.replica, caption=True)

    # -- the display ---------------------------------------------------------------------------
    def show(self) -> None:
        """Show the display (all pending), before the job starts, so it comes first."""
        self.ctx.display(self.render(), display_id=self.display_id)

    def start(self, run: JobRun) -> None:
        """Keep the display current until the run is over; draw its end when it is."""
        self.run = run
        self._dirty.set()
        self._refresher = threading.Thread(target=self._refresh, name="job-progress", daemon=True)
        self._refresher.start()
        run.when_finished(self.finish)

    def _refresh(self) -> None:
        assert self.run is not None
        last = 0.0
        while not self.run.over and not self._stopped.is_set():
            self._dirty.wait(1.0)
            pause = MIN_INTERVAL - (time.monotonic() - last)
            if pause > 0 and self._stopped.wait(pause):
                break
            self._dirty.clear()
            if self.run.over or self._stopped.is_set():
                break
            self._draw(final=False)
            last = time.monotonic()

    def finish(self) -> None:
        """Draw the final state (once; safe from any thread)."""
        self._stopped.set()
        self._dirty.set()
        self._draw(final=True)

    def _draw(self, final: bool) -> None:
        with self._draw_lock:  # a late refresh must never overwrite the final state
            if self._final_drawn:
                return
            if final:
                self._final_drawn = True
                self._take_final_states()
            self.ctx.display(self.render(), display_id=self.display_id, update=True)
            self._tell(final)

    def _take_final_states(self) -> None:
        """The results' states; a task a stopped run left unfinished is shown cancelled (the
        kernel may be exiting before its backend said so)."""
        if self.run is None:
            return
        stopped = self.run.stop_reason is not None
        with self._lock:
            for name, result in self.run.results.items():
                state = result.state
                self.states[name] = TaskState.CANCELLED if stopped and not state.final else state

    def stop(self) -> None:
        """Draw the final state now; the refresher sees it and ends by itself."""
        self.finish()

    def render(self) -> dict[str, Any]:
        with self._lock:
            states = dict(self.states)
        return {"text/html": self._html(states), "text/plain": self._text(states)}

    # -- the account (terminal frontends) -----------------------------------------------------
    def _tell(self, final: bool) -> None:
        """Append to the account what changed since it last spoke; at the end, the final
        state in full."""
        with self._lock:
            states = dict(self.states)
        if final:
            self.ctx.stream_to_session("stdout", self._text(states) + "\n")
            return
        lines = self._changes(states)
        self._told = states
        if lines:
            self.ctx.stream_to_session("stdout", "".join(f"{line}\n" for line in lines))

    def _changes(self, states: dict[str, TaskState]) -> list[str]:
        changed = [n for n, s in states.items() if self._told.get(n) is not s]
        if not changed:
            return []
        prefix = f"[job {self.plan.name}]"
        if len(states) <= TABLE_LIMIT:
            counts = self._counts_text(states)
            return [
                f"{prefix} {self._label(n)}: {self._state_text(n, states[n])} ({counts})"
                for n in changed
            ]
        lines = [f"{prefix} {n}: failed" for n in changed if states[n] is TaskState.FAILED]
        now = time.monotonic()
        if now - self._told_counts_at >= ACCOUNT_INTERVAL:
            self._told_counts_at = now
            lines.append(f"{prefix} {self._counts_text(states)}")
        return lines

    def _state_text(self, name: str, state: TaskState) -> str:
        took = self._task_time(name) if state.final else ""
        return f"{state.value} in {took}" if took else state.value

    # -- contents ------------------------------------------------------------------------------
    def _counts(self, states: dict[str, TaskState]) -> dict[str, int]:
        counts = {state.value: 0 for state in TaskState}
        for state in states.values():
            counts[state.value] += 1
        return counts

    def _counts_text(self, states: dict[str, TaskState]) -> str:
        counts = self._counts(states)
        parts = [f"{counts['done']}/{len(states)} done"]
        others = ("running", "failed", "skipped", "cancelled")
        parts += [f"{counts[s]} {s}" for s in others if counts[s]]
        return ", ".join(parts)

    def _over(self) -> bool:
        return self.run is not None and self.run.over

    def _ended(self) -> bool:
        """The run is over, or its final state is being drawn (a stopped run's backend may
        not have said so yet)."""
        return self.run is not None and (self.run.over or self._final_drawn)

    def _elapsed(self) -> float:
        end = self.run.finished if self._over() else time.time()
        return end - self.started

    def _headline(self, states: dict[str, TaskState]) -> str:
        if not self._ended():
            verb = "running on"
        elif self.run.stop_reason is not None:
            verb = f"{self.run.stop_reason}; on"
        else:
            verb = "finished on"
        backend = (self.run.backend_state if self.run is not None else None) or self.backend_text
        return f"Job {self.plan.name} ({verb} {backend}): {self._counts_text(states)}"

    def _summary(self) -> str | None:
        """Wall time, task time and speed-up, once the run is over."""
        if not self._ended():
            return None
        wall = self._elapsed()
        busy = sum(
            r.replica_time or r.duration
            for n, r in self.run.results.items()
            if n not in self.reused
        )
        text = f"wall time {wall:.2f} s · task time {busy:.2f} s"
        if self.reused:
            text += f" · {len(self.reused)} reused from cache"
        if busy >= 0.01 and wall > 0:  # a ratio of two near-zero times says nothing
            text += f" · speed-up {busy / wall:.2f}x"
        traffic = FileTraffic()
        for result in self.run.results.values():
            traffic.add(result.file_traffic)
        if traffic_text(traffic):
            text += f" · {traffic_text(traffic)}"
        return text

    def _notes(self) -> list[str]:
        """What the scheduler did besides running the tasks (retries, rescheduling after a lost
        worker, cache reuse, skips), one line each, once the run is over."""
        if not self._ended():
            return []
        return [*self.reuse_lines, *(
            f"{name}: {note}"
            for name, result in self.run.results.items()
            for note in result.notes
            if not note.startswith(("values released", "reused from an earlier run"))
            or not self.reuse_lines
        )]

    def _label(self, name: str) -> str:
        runs = self.plan.tasks[name].task.runs
        return f"{name} ×{runs}" if runs > 1 else name

    def _task_time(self, name: str) -> str:
        if self.run is None:
            return ""
        result = self.run.results[name]
        if result.started is None:
            return ""
        end = result.finished or time.time()
        return f"{end - result.started:.2f} s"

    def _text(self, states: dict[str, TaskState]) -> str:
        counts = self._counts(states)
        total = max(len(states), 1)
        filled = round(_BAR_WIDTH * (counts["done"] + counts["failed"]) / total)
        lines = [
            f"{self._headline(states)}",
            f"[{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {self._elapsed():.1f} s",
        ]
        shown = states
        if len(states) > TABLE_LIMIT:
            shown = {n: s for n, s in states.items() if s in (TaskState.RUNNING, TaskState.FAILED)}
        width = max((len(self._label(n)) for n in shown), default=0)
        for name, state in shown.items():
            note = " (cached)" if name in self.reused else ""
            label = self._label(name)
            lines.append(f"  {label:<{width}}  {state.value:<9} {self._task_time(name)}{note}")
        summary = self._summary()
        if summary:
            lines.append(summary)
        lines += [f"  note: {note}" for note in self._notes()]
        if self.dashboard:
            lines.append(f"dashboard: {self.dashboard}")
        return "\n".join(lines)

    def _html(self, states: dict[str, TaskState]) -> str:
        counts = self._counts(states)
        total = max(len(states), 1)
        done_pct = 100 * counts["done"] / total
        failed_pct = 100 * counts["failed"] / total
        bar = (
            '<div style="display:flex;height:10px;width:100%;max-width:40em;'
            f'background:{BAR_BACKGROUND};border-radius:3px;overflow:hidden;margin:4px 0">'
            f'<div style="width:{done_pct:.1f}%;background:{STATE_COLOURS["done"]}"></div>'
            f'<div style="width:{failed_pct:.1f}%;background:{STATE_COLOURS["failed"]}"></div>'
            "</div>"
        )
        head = (
            f"<b>{html.escape(self._headline(states))}</b>"
            f" <span style='color:{MUTED_TEXT}'>{self._elapsed():.1f} s</span>"
        )
        body = self._html_table(states) if len(states) <= TABLE_LIMIT else self._html_grid(states)
        tail = []
        summary = self._summary()
        if summary:
            tail.append(f"<div>{html.escape(summary)}</div>")
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self._notes())
        if notes:
            tail.append(f"<ul style='margin:2px 0;color:{MUTED_TEXT}'>{notes}</ul>")
        if self.dashboard:
            url = html.escape(self.dashboard, quote=True)
            tail.append(f'<div>Dashboard: <a href="{url}" target="_blank">{url}</a></div>')
        if not self._ended():
            tail.append(_stale_note())
        return f'<div class="pragma-job">{head}{bar}{body}{"".join(tail)}</div>'

    def _html_table(self, states: dict[str, TaskState]) -> str:
        rows = []
        for name, state in states.items():
            note = " (cached)" if name in self.reused else ""
            rows.append(
                f"<tr><td style='text-align:left'>{html.escape(self._label(name))}</td>"
                f"<td style='text-align:left'>{_swatch(state)}{state.value}{note}</td>"
                f"<td style='text-align:right'>{self._task_time(name)}</td></tr>"
            )
        return f"<table style='font-size:90%'>{''.join(rows)}</table>"

    def _html_grid(self, states: dict[str, TaskState]) -> str:
        cells = "".join(
            f"<span title='{html.escape(name, quote=True)}: {state.value}' style='display:"
            f"inline-block;width:9px;height:9px;margin:1px;background:{STATE_COLOURS[state.value]}"
            "'></span>"
            for name, state in states.items()
        )
        return f"<div style='max-width:40em;line-height:8px'>{cells}</div>"


def _swatch(state: TaskState) -> str:
    """A small square of the state's colour before its name (the text keeps the theme's)."""
    return (
        "<span style='display:inline-block;width:0.8em;height:0.8em;border-radius:2px;"
        f"margin-right:0.4em;vertical-align:-0.1em;background:{STATE_COLOURS[state.value]}'>"
        "</span>"
    )


def _stale_note() -> str:
    """Hidden until no redraw replaced it for STALE_AFTER seconds (an animation's delay; a
    redraw makes new elements, which start the delay again). Hidden by its own style where
    styles or animations are not applied."""
    return (
        f"{_STALE_STYLE}<div class='pragma-job-stale' style='visibility:hidden;max-height:0;"
        f"overflow:hidden;color:{MUTED_TEXT};animation:pragma-job-stale 0s linear "
        f"{STALE_AFTER}s forwards'>No news from the kernel for {STALE_AFTER} s: if it was "
        "restarted or shut down, this job was stopped with it.</div>"
    )


def show_task_display(ctx: OutputContext, output: Any, task: str, replica: int | None = None,
                      caption: bool = True) -> None:
    """A task's figure (or other rich output) in the cell, labelled with its task like its text
    lines: a ``[task] figure:`` caption line before it, and ``pragma_kernel.task`` (and
    ``.replica``) in its metadata for tools that read the notebook."""
    label = task if replica is None else f"{task}[{replica}]"
    if caption:
        kind = "figure" if any(m.startswith("image/") for m in output.data) else "output"
        ctx.stream("stdout", f"[{label}] {kind}:\n")
    source = {"task": task} if replica is None else {"task": task, "replica": replica}
    ctx.display(output.data, {**output.metadata, "pragma_kernel": source})


def prefix_lines(text: str, prefix: str) -> str:
    """Every line of ``text`` starting with ``prefix`` (a trailing newline kept)."""
    lines = text.splitlines(keepends=True)
    return "".join(prefix + line for line in lines)
