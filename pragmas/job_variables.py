"""The values of one run's job variables.

``#%job(variables=...)`` declares a job's variables with their default values. At
``#%submit_job`` three layers give them values, each over the one before: the defaults, the run
parameters (``#%parameters``, what the headless runner's ``-p NAME VALUE`` writes) and
``#%submit_job(variables=...)``. The values go into the plan's copy of the job, which every
backend reads; the job being written keeps its defaults, so the next run starts from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pragma_kernel.pragmas.declaration import PragmaCall

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pragma_kernel.kernel.seam import OutputContext
    from pragma_kernel.pragmas.backends.base import JobPlan


def apply_run_variables(engine: Any, call: PragmaCall, plan: JobPlan, ctx: OutputContext) -> None:
    """Set the plan's job variables for this run; a variable given to ``#%submit_job`` that the
    job does not declare is an error at that parameter (nothing runs)."""
    declared = dict(plan.job.variables)
    given = dict(call.args.get("variables") or {})
    unknown = [name for name in given if name not in declared]
    if unknown:
        raise call.error(_unknown_text(plan.name, unknown, declared), "variables")
    for name in engine.parameters:
        if name not in declared:
            text = (f"Note: the run parameter {name} is not a variable of job {plan.name} "
                    "(#%job(variables=...) declares them): not applied.")
            engine.say_once(f"parameter {name} job {plan.name}", text, ctx)
    parameters = {k: v for k, v in engine.parameters.items() if k in declared}
    values = {**declared, **parameters, **given}
    changed = [f"{k}={v} (default {declared[k]})" for k, v in values.items() if v != declared[k]]
    if changed:
        ctx.stream("stdout", f"Job variables of this run: {', '.join(changed)}.\n")
    plan.job.variables = values


def _unknown_text(job: str, unknown: list[str], declared: dict[str, str]) -> str:
    from pragma_kernel.pragmas.parser import closest

    names = ", ".join(repr(n) for n in unknown)
    plural = "s" if len(unknown) > 1 else ""
    if not declared:
        return (f"job {job} declares no variables, so {names} cannot be given: declare "
                f"variable{plural} with defaults first, #%job(variables=[({unknown[0]}, ...)])")
    hint = closest(unknown[0], sorted(declared))
    suggestion = f" Did you mean '{hint}'?" if hint else ""
    return (f"job {job} declares no variable{plural} {names} (its variables: "
            f"{', '.join(declared)}; #%job(variables=...) declares them).{suggestion}")
