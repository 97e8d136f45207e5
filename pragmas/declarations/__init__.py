"""The pragma families, one module each; importing this package registers every pragma.

| module        | pragmas                                                                   |
|---------------|---------------------------------------------------------------------------|
| help          | help                                                                      |
| tasks         | task, delete_task, import, configure, job                                 |
| scripts       | pre/post/selection scripts, fork environments, runtime_env                |
| flow          | ProActive control flow: split, runs, process, merge, start, loop, ...    |
| graph         | draw_job, write_dot, import_dot                                           |
| running       | submit_job, wait_job, run_local, results and outputs, get_result          |
| reuse         | why, clear_cache (results stored by submit_job(cache=on))                 |
| connection    | connect                                                                   |
| proactive     | export_xml, show_* portals, list_* resources                              |
| catalog       | catalog, save_job, list_saved_jobs, diff_job, load_job, delete_saved_job, |
|               | parameters, submit_from_catalog, new_job                                  |
"""

from importlib import import_module

FAMILIES = ("help", "tasks", "scripts", "flow", "graph", "running", "reuse", "connection",
            "proactive", "catalog")

for _family in FAMILIES:
    import_module(f"{__name__}.{_family}")
