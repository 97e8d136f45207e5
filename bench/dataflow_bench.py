"""How long inferring the data flow of a large flow=auto job takes.

    python -m bench.dataflow_bench [--tasks 1000] [--repeat 5]

The job: N tasks with bodies of ~10 lines, each reading 2-3 variables defined by earlier tasks
(a wide fan of chains), a ProActive variable every 10th task, a function and a comprehension
in every body, under ``#%job(flow=auto)``; 50 ordinary cells read some of the variables after
them. What is timed is :func:`infer_flow` on that job from a cold cache (every body parsed and
read with ``symtable`` again) and the validation notes: what a submission adds (its bodies were
read at their definition already: a submission finds them cached). Also printed: the checker
on the last task, as at its definition. Best of ``--repeat``. Goal: under 0.5 s for 1,000 tasks.
"""

from __future__ import annotations

import argparse
import time

from pragma_kernel.pragmas.code_facts import code_facts
from pragma_kernel.pragmas.dataflow import check_task, infer_flow
from pragma_kernel.pragmas.model import Job, SourceLocation, Task

BODY = """\
import math
def scale(value):
    return value * factor_{i} + math.pi
factor_{i} = {i} % 7 + 1
rows_{i} = [scale(x) for x in rows_{a}] + [y for y in rows_{b} if y > threshold]
stats_{i} = {{'n': len(rows_{i}), 'sum': sum(rows_{i})}}
stats_{i}['mean'] = stats_{i}['sum'] / max(stats_{i}['n'], 1)
log_{i} = []
log_{i}.append(stats_{c}['mean'] if {i} > 2 else 0)
{extra}
"""


def make_job(tasks: int) -> tuple[Job, list[str]]:
    job = Job(name="bench", data_flow="auto")
    history = [""]
    for i in range(tasks):
        a, b, c = max(i - 1, 0), max(i - 7, 0), max(i // 2, 0)
        extra = (f"variables.put('mark_{i}', 1)" if i % 10 == 0
                 else f"variables.get('mark_{i - i % 10}')")  # fmt: skip
        code = BODY.format(i=i, a=a, b=b, c=c, extra=extra)
        history.append(f"#%task(name=t{i})\n{code}")
        job.define(Task(name=f"t{i}", code=code, source=SourceLocation(f"Cell In[{i + 1}]", 2),
                        cell=i + 1))  # fmt: skip
    for j in range(50):
        history.append(f"print(stats_{j * tasks // 50}, log_{tasks - 1 - j})")
    return job, history


def run_once(job: Job, history: list[str], namespace: dict) -> tuple[float, float]:
    """Cold: every body and cell analysed again, then inferred, noted (a submission).
    (CPU seconds of this process, wall seconds): on a shared machine the wall clock also
    counts the time other processes hold the cores."""
    code_facts.cache_clear()
    start, start_cpu = time.perf_counter(), time.process_time()
    flow = infer_flow(job, namespace, history)
    flow.notes(job)
    return time.process_time() - start_cpu, time.perf_counter() - start


def check_last(job: Job, namespace: dict) -> float:
    """The checker on the last task defined, as at its definition (warm bodies)."""
    start = time.perf_counter()
    check_task(job, job.last_task(), namespace)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    job, history = make_job(options.tasks)
    namespace = {"rows_0": [1.0, 2.0], "threshold": 0.5, "In": history}
    cpu, wall = min(run_once(job, history, namespace) for _ in range(options.repeat))
    flow = infer_flow(job, namespace, history)
    edges = sum(len(f.dep) for f in flow.tasks.values())
    check = min(check_last(job, namespace) for _ in range(options.repeat))
    print(f"data flow of a {options.tasks}-task flow=auto job ({edges} inferred edges, "
          f"{len(history) - 1} cells): {cpu:.3f} s of CPU ({wall:.3f} s wall clock; best of "
          f"{options.repeat}; goal < 0.5 s)")
    print(f"checking its last task at definition: {check * 1000:.1f} ms")


if __name__ == "__main__":
    main()
