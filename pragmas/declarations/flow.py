"""Pragma family: flow — ProActive's control flow, with Activeeon's syntax and order.

Three controls, each a fixed sequence of pragmas (as in Activeeon's kernel):

- replicate: ``split`` → ``runs`` → ``process`` → ``merge``
- loop:      ``start`` → ``condition`` → ``loop``
- branch:    ``branch`` → ``condition`` → ``if`` → ``else`` → ``continuation``

Task-creating steps define tasks like ``#%task`` and record the control in ``Task.flow``
(block start/end, the flow script, its targets) so the ProActive export carries it and the
embedded backends can run it. ``runs`` and ``condition`` take the flow script as body. Running
the cell of a step already written again is allowed (cells are edited and re-run) and replaces
its task; a step naming another task (a second ``#%loop``) and skipping a step are errors that
say which pragma is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pragma_kernel.pragmas.declaration import Param, PragmaCall, pragma
from pragma_kernel.pragmas.declarations.tasks import (
    DEP,
    GENERIC_INFO,
    LANGUAGES,
    PATH,
    define_task,
    language_param,
)
from pragma_kernel.pragmas.errors import PragmaStateError
from pragma_kernel.pragmas.model import (
    DEFAULT_MAX_LOOP_ROUNDS,
    MAX_LOOP_ROUNDS,
    FlowInfo,
    Script,
    SourceLocation,
    Task,
)

SEQUENCES = {
    "replicate": ("split", "runs", "process", "merge"),
    "loop": ("start", "condition", "loop"),
    "branch": ("branch", "condition", "if", "else", "continuation"),
}


@dataclass
class FlowControl:
    """The control being written: its kind, the step reached and the tasks made so far."""

    kind: str
    step: int
    tasks: dict[str, str] = field(default_factory=dict)  #: step pragma -> task name
    script: Script | None = None  #: the saved loop/branch condition

    @property
    def expected(self) -> str | None:
        sequence = SEQUENCES[self.kind]
        return sequence[self.step + 1] if self.step + 1 < len(sequence) else None


def _order(kind: str) -> str:
    return " → ".join(f"#%{p}" for p in SEQUENCES[kind])


def _advance(engine: Any, call: PragmaCall, kinds: tuple[str, ...]) -> FlowControl:
    """Check that ``call`` may come now: the next step of the control being written, or a
    step already written (its cell is run again, e.g. after an edit). Move to the step."""
    name = call.spec.name
    control: FlowControl | None = getattr(engine, "control", None)
    for kind in kinds:
        step = SEQUENCES[kind].index(name)
        if control is not None and control.kind == kind and step <= control.step + 1:
            control.step = max(step, control.step)
            return control
    kind = kinds[0]
    if control is None or control.kind not in kinds:
        starts = " or ".join(f"#%{SEQUENCES[k][0]}" for k in kinds)
        raise PragmaStateError(
            f"#%{name} belongs to a {' or '.join(kinds)} control, which starts with {starts} "
            f"({_order(kind)})"
        )
    # a finished control accepts every one of its steps again, so a next step exists here
    raise PragmaStateError(
        f"#%{name} is out of order: expected #%{control.expected} now (the {control.kind} "
        f"control is {_order(control.kind)})"
    )


def _control_task(engine: Any, control: FlowControl, step: str) -> Task:
    """The task a step of the control made, or an error if it was deleted since."""
    name = control.tasks[step]
    if name not in engine.job.tasks:
        raise PragmaStateError(f"the #%{step} task '{name}' of this {control.kind} control was "
                               f"deleted; run its #%{step} cell again first")
    return engine.job.tasks[name]


def _unique(engine: Any, prefix: str) -> str:
    number = 0
    while f"{prefix}{number}" in engine.job.tasks:
        number += 1
    return f"{prefix}{number}"


def _derived_name(call: PragmaCall, control: FlowControl, prefix: str) -> str:
    """Activeeon's default (``process`` + the digits of the split task), without its crash on
    a split named without digits."""
    if call.args.get("name"):
        return call.args["name"]
    first = next(iter(control.tasks.values()))
    digits = re.findall(r"\d+", first)
    return f"{prefix}{digits[-1]}" if digits else f"{first}_{prefix}"


def _start(engine: Any, call: PragmaCall, ctx: Any, kind: str) -> None:
    name = call.args.get("name") or _unique(engine, call.spec.name)
    # replicate and loop controls are ProActive blocks; a branch is not
    flow = FlowInfo(block=None if kind == "branch" else "start")
    control: FlowControl | None = getattr(engine, "control", None)
    again = control is not None and control.kind == kind and control.tasks.get(
        call.spec.name) == name and name in engine.job.tasks
    if again:  # its cell edited and run again: the control keeps its script and steps
        _keep_control(engine.job.tasks[name].flow, flow)
    define_task(engine, call, ctx, name=name, flow=flow)
    if not again:
        engine.control = FlowControl(kind, 0, {call.spec.name: name})


def _keep_control(old: FlowInfo, new: FlowInfo) -> None:
    """What the later steps of a control wrote on its first task (the runs or condition
    script, the branch's targets) survives an edit of that task's own cell."""
    new.action, new.script = old.action, old.script
    new.if_target, new.else_target = old.if_target, old.else_target
    new.continuation_target = old.continuation_target


def _flow_script(call: PragmaCall, ctx: Any) -> Script:
    if not call.body.strip():
        raise call.error("needs the flow script as the code below the pragma line")
    source = call.body_source or SourceLocation(ctx.cell_label, call.lineno + 1)
    language = call.args["language"] or flow_script_language(call.body)
    return Script(code=call.body, language=language, source=source)


def flow_script_language(code: str) -> str:
    """Python when the script is valid Python (``runs = 3``, ``loop = i < 3`` are both), so
    every backend can run it; else Javascript, the default of Activeeon's kernel."""
    try:
        compile(code, "<flow script>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return "Javascript"
    return "Python"


def _step_task(engine: Any, call: PragmaCall, ctx: Any, control: FlowControl, prefix: str,
               dep: list[str], flow: FlowInfo) -> str:
    name = _derived_name(call, control, prefix)
    _refuse_a_second(engine, call, control, name)
    define_task(engine, call, ctx, name=name, dep=dep, flow=flow)
    control.tasks[call.spec.name] = name
    return name


def _refuse_a_second(engine: Any, call: PragmaCall, control: FlowControl, name: str) -> None:
    """A step made its task already: running its cell again replaces that task, but a step
    naming another task would give the control two (a loop block with two ends, as Activeeon's
    kernel refuses too)."""
    step = call.spec.name
    made = control.tasks.get(step)
    if made is None or made == name or made not in engine.job.tasks:
        return
    first = next(iter(control.tasks.values()))
    raise PragmaStateError(
        f"this {control.kind} control (from '{first}') already has its #%{step} task '{made}'; "
        f"a control has one. To start another {control.kind}, begin with "
        f"#%{SEQUENCES[control.kind][0]}(...); to rename '{made}', #%delete_task(name={made}) "
        "first"
    )


def _opening_params(what: str) -> list[Param]:
    return [Param("name", "name", help=f"the {what} task (default {what}N)"), DEP,
            *_common_params()]


def _common_params() -> list[Param]:
    return [GENERIC_INFO, language_param(), PATH,
            Param("import", "list", default=[], help="as for #%task"),
            Param("export", "list", default=[], help="as for #%task"),
            Param("variables", "pairs", default={}, help="as for #%task")]


def _step_params(what: str) -> list[Param]:
    return [Param("name", "name", help=f"the {what} task (default derived from the control's "
                  "first task)"), *_common_params()]


SCRIPT_PARAMS = [
    Param("language", "choice", choices=LANGUAGES,
          help="the script's language (default: Python when the code is valid Python, so every "
          "backend runs it; else Javascript, as in Activeeon's kernel; Javascript flow scripts "
          "run on ProActive only)"),
]  # fmt: skip


# --------------------------------------------------------------------------- replicate


@pragma("split", family="flow", summary="creates the splitting task of a replicate control",
        params=_opening_params("split"), body="optional",
        example="#%split(name=split1)\nprint('splitting')",
        details=f"Replicate control: {_order('replicate')}.")
def split(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _start(engine, call, ctx, "replicate")


@pragma("runs", family="flow", summary="sets the replicate script (how many replicas) of the split",
        params=SCRIPT_PARAMS, body="required", example="#%runs()\nruns = 3",
        details="The code sets `runs`, the number of replicas of the process task. "
        f"Replicate control: {_order('replicate')}.")
def runs(engine: Any, call: PragmaCall, ctx: Any) -> None:
    control = _advance(engine, call, ("replicate",))
    split_task = _control_task(engine, control, "split")
    split_task.flow.action = "replicate"
    split_task.flow.script = _flow_script(call, ctx)
    ctx.stream("stdout", f"Replicate script of '{split_task.name}' set.\n")


@pragma("process", family="flow", summary="creates the replicated task of a replicate control",
        params=_step_params("process"), body="optional",
        example="#%process(name=process1)\nprint(variables.get('PA_TASK_REPLICATION'))",
        details=f"Depends on the split task. Replicate control: {_order('replicate')}.")
def process(engine: Any, call: PragmaCall, ctx: Any) -> None:
    control = _advance(engine, call, ("replicate",))
    _step_task(engine, call, ctx, control, "process", [control.tasks["split"]], FlowInfo())


@pragma("merge", family="flow", summary="creates the merging task of a replicate control",
        params=_step_params("merge"), body="optional",
        example="#%merge(name=merge1)\nprint('merged')",
        details=f"Depends on the process task. Replicate control: {_order('replicate')}.")
def merge(engine: Any, call: PragmaCall, ctx: Any) -> None:
    control = _advance(engine, call, ("replicate",))
    _step_task(engine, call, ctx, control, "merge", [control.tasks["process"]],
               FlowInfo(block="end"))


# --------------------------------------------------------------------------- loop


@pragma("start", family="flow", summary="creates the first task of a loop control",
        params=_opening_params("start"), body="optional", example="#%start(name=start1)\nprint('round', variables.get('PA_TASK_ITERATION'))",
        details=f"Loop control: {_order('loop')}.")
def start(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _start(engine, call, ctx, "loop")


@pragma("condition", family="flow",
        summary="sets the condition script of a loop or branch control",
        params=SCRIPT_PARAMS, body="required",
        example="#%condition()\nloop = variables.get('PA_TASK_ITERATION') < 2  # three rounds",
        details="After #%start the code sets `loop` (true: run the loop again); after #%branch "
        f"it sets `branch` to 'if' or 'else'. Loop: {_order('loop')}. Branch: {_order('branch')}.")
def condition(engine: Any, call: PragmaCall, ctx: Any) -> None:
    control = _advance(engine, call, ("loop", "branch"))
    control.script = _flow_script(call, ctx)
    if control.kind == "branch":
        branch_task = _control_task(engine, control, "branch")
        branch_task.flow.action = "if"
        branch_task.flow.script = control.script
    ctx.stream("stdout", f"Condition of the {control.kind} control set.\n")


@pragma("loop", family="flow", summary="creates the last task of a loop control",
        params=[*_step_params("loop"),
                Param("max_rounds", "int", default=DEFAULT_MAX_LOOP_ROUNDS, minimum=1,
                      maximum=MAX_LOOP_ROUNDS, help=f"local and Dask: the most rounds the loop may run (default "
                      f"{DEFAULT_MAX_LOOP_ROUNDS}); a condition that still says loop after "
                      "the last one fails the loop task (LoopLimitError)")],
        body="optional",
        example="#%loop(name=loop1)\nprint('end of round', variables.get('PA_TASK_ITERATION'))",
        details=f"Depends on the start task; runs the condition to go round again (each round "
        f"sees PA_TASK_ITERATION, from 0). Loop control: {_order('loop')}.")
def loop(engine: Any, call: PragmaCall, ctx: Any) -> None:
    control = _advance(engine, call, ("loop",))
    first = control.tasks["start"]
    flow = FlowInfo(block="end", action="loop", script=control.script, target=first,
                    max_rounds=call.args["max_rounds"])
    _step_task(engine, call, ctx, control, "loop", [first], flow)


# --------------------------------------------------------------------------- branch


@pragma("branch", family="flow", summary="creates the deciding task of a branch control",
        params=_opening_params("branch"), body="optional", example="#%branch(name=branch1)\nvariables.put('x', 1)\n\n"
        "#%condition()\nbranch = 'if' if variables.get('x') > 0 else 'else'",
        details=f"Branch control: {_order('branch')}.")
def branch(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _start(engine, call, ctx, "branch")


def _branch_target(engine: Any, call: PragmaCall, ctx: Any, attribute: str) -> None:
    control = _advance(engine, call, ("branch",))
    name = _step_task(engine, call, ctx, control, call.spec.name, [], FlowInfo())
    setattr(_control_task(engine, control, "branch").flow, attribute, name)


@pragma("if", family="flow", summary="creates the task run when the branch condition says 'if'",
        params=_step_params("if"), body="optional", example="#%if(name=if1)\nprint('if')",
        details=f"Branch control: {_order('branch')}.")
def if_(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _branch_target(engine, call, ctx, "if_target")


@pragma("else", family="flow", summary="creates the task run when the branch condition says 'else'",
        params=_step_params("else"), body="optional", example="#%else(name=else1)\nprint('else')",
        details=f"Branch control: {_order('branch')}.")
def else_(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _branch_target(engine, call, ctx, "else_target")


@pragma("continuation", family="flow",
        summary="creates the task run after the if or else task of a branch control",
        params=_step_params("continuation"), body="optional",
        example="#%continuation(name=continuation1)\nprint('after the branch')",
        details=f"Branch control: {_order('branch')}.")
def continuation(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _branch_target(engine, call, ctx, "continuation_target")
