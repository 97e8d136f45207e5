"""The job's life alone: events in, states and ready tasks out; no process, no backend."""

from __future__ import annotations

from pragma_kernel.pragmas.backends.base import (
    JobPlan,
    JobRun,
    Output,
    PlannedTask,
    TaskError,
    TaskResult,
    TaskState,
)
from pragma_kernel.pragmas.job_life import REUSED_NOTE, counts_text
from pragma_kernel.pragmas.model import FlowInfo, Job, Task


def _run(*tasks: tuple[str, list[str]], flows: dict[str, FlowInfo] | None = None,
         listener=None) -> JobRun:
    job = Job()
    planned = {}
    for name, deps in tasks:
        task = Task(name=name, dep=deps, flow=(flows or {}).get(name, FlowInfo()))
        job.define(task)
        planned[name] = PlannedTask(task, tuple(deps), {})
    return JobRun("1", JobPlan(job=job, name="j", tasks=planned), backend=None,
                  listener=listener)


def _error(text: str = "boom") -> TaskError:
    return TaskError("ValueError", text, [f"ValueError: {text}"])


def test_a_chain_releases_each_task_when_its_parent_is_done():
    run = _run(("a", []), ("b", ["a"]), ("c", ["b"]))
    life = run.life
    assert life.initially_ready() == ["a"]
    life.started("a")
    assert run.results["a"].state is TaskState.RUNNING and run.results["a"].started
    assert life.done("a") == ["b"]
    assert life.done("b") == ["c"]
    assert not life.over
    assert life.done("c") == []
    assert life.over


def test_a_join_waits_for_all_its_parents():
    life = _run(("a", []), ("b", []), ("c", ["a", "b"])).life
    assert life.initially_ready() == ["a", "b"]
    assert life.done("a") == []
    assert life.done("b") == ["c"]


def test_a_failure_skips_descendants_and_spares_the_rest():
    run = _run(("a", []), ("b", ["a"]), ("c", ["b"]), ("d", []))
    run.life.failed("a", _error())
    assert [run.results[n].state for n in "abcd"] == [
        TaskState.FAILED, TaskState.SKIPPED, TaskState.SKIPPED, TaskState.PENDING]
    assert run.results["c"].notes == ["skipped: a failed"]
    assert run.results["a"].error.evalue == "boom"
    run.life.done("d")
    assert run.life.over
    assert counts_text(run.results) == "1 done, 1 failed, 2 skipped"


def test_a_reused_parent_releases_its_dependent_once():
    run = _run(("a", []), ("b", ["a"]))
    earlier = TaskResult("a", TaskState.DONE, exports={"x": 1}, result=2)
    assert run.life.reused("a", earlier) == ["b"]
    assert run.life.initially_ready() == ["b"]  # the same task: a backend starts it once
    assert run.results["a"].exports == {"x": 1} and run.results["a"].notes == [REUSED_NOTE]


def test_a_branch_skips_the_arm_not_taken_and_releases_the_continuation():
    branch = FlowInfo(action="if", if_target="yes", else_target="no", continuation_target="after")
    run = _run(("b", []), ("yes", []), ("no", []), ("after", []), ("needs_no", ["no"]),
               flows={"b": branch})
    life = run.life
    assert life.initially_ready() == ["b"]
    assert life.chose("b", "if") == []
    assert run.results["no"].state is TaskState.SKIPPED
    assert run.results["no"].notes == ["not run: b chose if (yes)"]
    assert run.results["needs_no"].notes == ["skipped: b chose if"]
    assert sorted(life.done("b")) == ["yes"]
    assert life.done("yes") == ["after"]
    assert life.flow.taken == {"no": "yes"}


def test_a_loop_round_makes_its_block_pending_again():
    run = _run(("start", []), ("end", ["start"]),
               flows={"end": FlowInfo(block="end", action="loop", target="start")})
    life = run.life
    life.done("start")
    life.started("end")
    assert life.loop_again("end") == ["start"]
    assert [run.results[n].state for n in ("start", "end")] == [TaskState.PENDING] * 2
    assert life.rounds == {"start": 1, "end": 1}
    assert not life.over
    life.done("start")
    life.done("end")
    assert life.over


def test_cancel_ends_what_is_unfinished_and_names_what_ran():
    run = _run(("a", []), ("b", []), ("c", ["a"]))
    run.life.done("b")
    run.life.started("a")
    assert run.life.cancelled() == ["a"]
    assert [run.results[n].state for n in "abc"] == [
        TaskState.CANCELLED, TaskState.DONE, TaskState.CANCELLED]
    assert run.life.over


def test_a_stop_fails_one_running_task_with_the_reason_and_cancels_the_rest():
    run = _run(("a", []), ("b", []), ("c", ["a"]))
    run.life.started("b")
    run.life.stopped(_error("cluster gone"), "cancelled: the cluster cannot run the job")
    assert run.results["b"].state is TaskState.FAILED
    assert run.results["b"].error.evalue == "cluster gone"
    assert run.results["a"].notes == ["cancelled: the cluster cannot run the job"]
    assert run.life.over


def test_lost_values_fail_a_done_task_after_all():
    run = _run(("a", []), ("b", ["a"]))
    run.life.done("a")
    run.life.lost("a", _error("values lost"))
    assert run.results["a"].state is TaskState.FAILED
    assert run.results["b"].state is TaskState.SKIPPED


def test_a_listener_that_raises_is_shielded_and_remembered():
    seen = []

    def listener(event):
        seen.append(event)
        raise RuntimeError("display broke")

    run = _run(("a", []), listener=listener)
    run.life.started("a")
    run.life.output_of("a", None, Output("stream", name="stdout", text="hi\n"))
    run.life.done("a")
    assert run.life.over and run.life.listener_broke
    assert [e.kind for e in seen] == ["state", "output", "state"]
    assert run.results["a"].outputs[0].text == "hi\n"
