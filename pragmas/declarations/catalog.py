"""Pragma family: catalog — save, list, diff, load and delete versions of jobs, start a new one;
run parameters.

The catalog is a folder (``pragma_kernel.pragmas.catalog``), one TOML file per version, on every
backend. The ``proactive`` SDK cannot read or write ProActive's own catalog: it can only submit a
workflow stored there, which ``#%submit_from_catalog`` does. ``#%parameters`` holds the values
the headless runner's ``-p NAME VALUE`` gives; ``#%submit_job`` applies them
(``pragma_kernel.pragmas.job_variables``).
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from pragma_kernel.pragmas.catalog import NameClashError, write_beside
from pragma_kernel.pragmas.declaration import PROACTIVE_ONLY, Param, PragmaCall, pragma
from pragma_kernel.pragmas.errors import PragmaError, PragmaStateError
from pragma_kernel.pragmas.job_file import JobFile, render_job
from pragma_kernel.pragmas.model import Job
from pragma_kernel.pragmas.table import table_bundle
from pragma_kernel.pragmas.validation import check_python_syntax

#: said once on ProActive, where one might expect the server's catalog
SDK_CATALOG_NOTE = (
    "Note: jobs are saved in {where}, not in ProActive's catalog: the proactive SDK cannot "
    "write, list or read that catalog; it can only submit a workflow stored there "
    "(#%submit_from_catalog). To publish a job there, add its workflow XML in ProActive's "
    "Catalog portal (#%save_job(..., xml=on) keeps it beside the version).")


class UnsavedJobError(PragmaError):
    """Loading a job would drop the job being written, which no version holds."""


JOB_NAME = Param("name", "word", required=True, help="the saved job's name")


def _catalog(engine: Any, ctx: Any) -> Any:
    catalog = engine.catalog.catalog()
    if engine.backend is not None and engine.backend.name == "proactive":
        note = SDK_CATALOG_NOTE.format(where=catalog.describe())
        engine.say_once("catalog-on-proactive", note, ctx)
    return catalog


def _tasks_text(job: Job) -> str:
    names = list(job.tasks)
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return f"{len(names)} task{'s' if len(names) != 1 else ''}: {shown}" if names else "no task"


def _variables_text(variables: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variables.items())


def _is_empty(job: Job) -> bool:
    return render_job(job) == render_job(Job())


def _unsaved(engine: Any) -> bool:
    """The job being written holds something no catalog version holds as it is."""
    origin = engine.catalog.origin
    if _is_empty(engine.job):
        return False
    return origin is None or render_job(origin.job) != render_job(engine.job)


def _what_is_written(engine: Any) -> str:
    """The job being written, as a load tells what it replaces."""
    origin, job = engine.catalog.origin, engine.job
    what = f"job '{job.name}' ({_tasks_text(job)})" if job.name else f"the job ({_tasks_text(job)})"
    if origin is None:
        return f"{what}, never saved"
    where = f"'{origin.header.name}' v{origin.header.version}"
    return f"{what}, changed since {where}" if _unsaved(engine) else f"{what}, saved as {where}"


# --------------------------------------------------------------------------- pragmas


@pragma(
    "catalog",
    family="catalog",
    summary="chooses the folder of the job catalog (default ./.pragma-catalog) and lists it",
    params=[Param("path", "path", help="the catalog's folder, created at the first save "
                  "(relative to the working directory)")],
    example="#%catalog(path=./.pragma-catalog)",
    details="Without path: says which folder is in use and lists its jobs. The default is "
    ".pragma-catalog in the working directory, which Jupyter, nbclient and papermill set to "
    "the notebook's folder. Each version of a job is one TOML file, <catalog>/<job>/v<N>.toml, "
    "with the tasks' code as multi-line strings: readable, and diffable with git. On "
    "ProActive too the catalog is this folder (the proactive SDK cannot use the server's).",
)
def catalog(engine: Any, call: PragmaCall, ctx: Any) -> None:
    if call.args.get("path"):
        engine.catalog.folder = Path(call.args["path"]).expanduser().absolute()
    store = _catalog(engine, ctx)
    jobs = store.jobs()
    count = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}" if jobs else "empty"
    ctx.stream("stdout", f"Catalog: {store.root} ({count}).\n")
    if jobs:
        _list_jobs(jobs, ctx)


@pragma(
    "save_job",
    family="catalog",
    summary="saves the job being written in the catalog, as its next version, with a message",
    params=[
        Param("message", "word", required=True, help="what this version is (quote it)"),
        Param("name", "word", help="the name to save it under (default: #%job's, else the "
              "notebook's)"),
        Param("force", "flag", default=False, help="save even when the catalog's job of that "
              "name is not the one this job came from (a name clash) or has changed since"),
        Param("xml", "flag", default=False, help="also keep its ProActive workflow XML beside "
              "it (v<N>.xml; the job must be valid, Java installed)"),
    ],
    example="#%save_job(message='first version')",
    details="Every save makes a new version (1, 2, ...); none is ever overwritten. A job "
    "unchanged since its newest version is not saved again. The job being written 'comes "
    "from' the version it was loaded from or last saved as in this kernel; saving under the "
    "name of another job of the catalog is refused as a name clash (save under another name, "
    "or force=on to add a version to it).",
)
def save_job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    job = engine.job
    if not job.tasks:
        raise PragmaStateError("the job has no task yet: nothing to save")
    name = call.args["name"] or engine.job_name(ctx, generate=False)
    if "name" in call.given and not str(call.args["name"]).strip():
        raise call.error("a job's name cannot be empty", "name")
    if not name:
        raise call.error("the job has no name: name it with #%job(name=...), or give "
                         "#%save_job(name=..., message=...)")
    store = _catalog(engine, ctx)
    if store.versions(name):
        newest = store.read(name)
        if render_job(newest.job) == render_job(job):
            engine.catalog.origin = newest
            ctx.stream("stdout", f"Job '{name}' is unchanged since version "
                                 f"{newest.header.version}: nothing saved.\n")
            return
        if not call.args["force"]:
            _check_clash(engine, name, newest, len(store.versions(name)))
    xml = _workflow_xml(engine, ctx, name) if call.args["xml"] else None  # before: may fail
    saved = store.commit(job, name, call.args["message"], _kernel_version())
    engine.catalog.origin = saved
    beside = ""
    if xml is not None:
        beside = f", its workflow in {write_beside(saved.path.with_suffix('.xml'), xml).name}"
    ctx.stream("stdout", f"Saved job '{name}' as version {saved.header.version} "
                         f"({_tasks_text(job)}) in {saved.path}{beside}.\n")


def _workflow_xml(engine: Any, ctx: Any, name: str) -> str:
    from pragma_kernel.pragmas.declarations.proactive import workflow_xml

    return workflow_xml(engine.plan(ctx, name, files_needed=False))  # describes; runs nothing


def _check_clash(engine: Any, name: str, newest: JobFile, count: int) -> None:
    origin = engine.catalog.origin
    newest_text = (f"v{newest.header.version}, '{newest.header.message}', saved "
                   f"{newest.header.saved}")
    if origin is None or origin.header.name != name:
        raise NameClashError(
            f"the catalog already has a job '{name}' ({count} version{'s' if count > 1 else ''}"
            f"; {newest_text}), and the job being written did not come from it (it was neither "
            f"loaded from it nor saved as it in this kernel). Save it under another name: "
            f"#%save_job(name=..., message=...), or with force=on as version "
            f"{newest.header.version + 1} of '{name}'")
    if origin.header.version < newest.header.version:
        raise NameClashError(
            f"job '{name}' came from version {origin.header.version}, and the catalog has a "
            f"newer one since ({newest_text}): saving would drop its changes from the next "
            f"version. #%diff_job(name={name}, old={newest.header.version}, new=current) "
            "shows the differences; save with force=on to save anyway")


def _kernel_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pragma-kernel")
    except PackageNotFoundError:
        return ""


@pragma(
    "list_saved_jobs",
    family="catalog",
    summary="lists the catalog's jobs, or the versions of one job",
    params=[Param("name", "word", help="the job whose versions to list")],
    example="#%list_saved_jobs()",
)
def list_saved_jobs(engine: Any, call: PragmaCall, ctx: Any) -> None:
    store = _catalog(engine, ctx)
    name = call.args.get("name")
    if not name:
        jobs = store.jobs()
        if not jobs:
            ctx.stream("stdout", f"The catalog ({store.root}) has no job yet: "
                                 "#%save_job(message=...) saves the one being written.\n")
            return
        _list_jobs(jobs, ctx)
        return
    store.read(name)  # an unknown job says so, with the known ones
    rows = []
    for version in store.versions(name):
        try:
            saved = store.read(name, version)
        except PragmaError as error:  # one unreadable version: said in its row, not fatal
            rows.append((str(version), "", "", "", f"unreadable: {error.evalue}"))
            continue
        rows.append((str(version), saved.header.saved, _tasks_text(saved.job),
                     _variables_text(saved.job.variables), saved.header.message))
    ctx.display(table_bundle(("version", "saved", "tasks", "variables", "message"), rows))


def _list_jobs(jobs: list, ctx: Any) -> None:
    rows = []
    for job in jobs:
        if job.latest is None:
            rows.append((job.name, str(len(job.versions)), str(job.versions[-1]), "",
                         f"unreadable: {job.problem}"))
            continue
        header = job.latest.header
        rows.append((job.name, str(len(job.versions)), str(header.version), header.saved,
                     header.message))
    ctx.display(table_bundle(("job", "versions", "newest", "saved", "message"), rows))


@pragma(
    "diff_job",
    family="catalog",
    summary="shows what changed between two versions of a job, or since the version loaded",
    params=[
        Param("name", "word", help="the saved job (default: the one the job being written "
              "came from)"),
        Param("old", "word", suggestions=("current",), help="a version number, or current "
              "(the job being written)"),
        Param("new", "word", suggestions=("current",), help="a version number, or current"),
    ],
    example="#%diff_job(name=training, old=1, new=current)",
    details="A unified diff of the two versions' files (their headers left out). Without name: "
    "the job being written against the version it came from. With name: new defaults to its "
    "newest version and old to the version before new (with new=current: the version the job "
    "came from, else the newest).",
)
def diff_job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    store = _catalog(engine, ctx)
    origin = engine.catalog.origin
    name, old, new = call.args.get("name"), call.args.get("old"), call.args.get("new")
    if not name:
        if origin is None:
            raise call.error("the job being written was not loaded from the catalog nor saved "
                             "in it: name the saved job to compare (name=...)")
        name = origin.header.name
        new = new or "current"
        old = old or str(origin.header.version)
    new_version = _version_arg(call, "new", new)
    if new_version is None and new != "current":
        new_version = store.read(name).header.version
    old_version = _version_arg(call, "old", old)
    if old_version is None and old != "current":
        if new_version is None:  # the job being written: against where it came from
            came_from = origin is not None and origin.header.name == name
            old_version = origin.header.version if came_from else store.read(name).header.version
        elif new_version <= 1:
            raise call.error(f"job '{name}' has no version before 1: say which to compare it "
                             "with (old=N), or old=current", "old")
        else:
            old_version = new_version - 1
    before, before_label = _side(engine, store, name, old_version)
    after, after_label = _side(engine, store, name, new_version)
    lines = list(difflib.unified_diff(before.splitlines(keepends=True),
                                      after.splitlines(keepends=True),
                                      before_label, after_label))  # fmt: skip
    if not lines:
        ctx.stream("stdout", f"No difference between {before_label} and {after_label}.\n")
        return
    ctx.stream("stdout", "".join(lines))


def _version_arg(call: PragmaCall, param: str, value: str | None) -> int | None:
    if value is None or value == "current":
        return None
    text = str(value).lstrip("v")
    if not text.isdigit() or int(text) < 1:
        raise call.error(f"expected a version number or current, not {value!r}", param)
    return int(text)


def _side(engine: Any, store: Any, name: str, version: int | None) -> tuple[str, str]:
    if version is None:
        return render_job(engine.job), "the job being written"
    saved = store.read(name, version)
    return render_job(saved.job), f"{name} v{version} ({saved.header.message})"


@pragma(
    "load_job",
    family="catalog",
    summary="makes a saved job (its newest version, or one) the job being written",
    params=[
        JOB_NAME,
        Param("version", "int", minimum=1, help="the version (default: the newest)"),
        Param("replace", "flag", default=False, help="drop the job being written even if no "
              "version holds it as it is"),
    ],
    example="#%load_job(name=training)",
    details="The loaded tasks are then used, changed and submitted like tasks of cells; "
    "#%submit_job(variables=[(K, V)]) runs them with other values of the job variables. "
    "Loading never drops the job being written silently: if it is saved as it is, the load "
    "says what it replaces; if not, the load is refused (save it first, or replace=on). "
    "Tracebacks and syntax errors of loaded code point at the catalog file's lines.",
)
def load_job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    store = _catalog(engine, ctx)
    saved = store.read(call.args["name"], call.args.get("version"))
    _check_code(saved)
    replaced = None if _is_empty(engine.job) else _what_is_written(engine)
    unsaved = _unsaved(engine)
    if unsaved and not call.args["replace"]:
        raise UnsavedJobError(
            f"loading '{saved.header.name}' would replace {replaced}: its changes would be "
            "lost. Save it first (#%save_job(message=...)), or load with replace=on to drop it")
    job = copy.deepcopy(saved.job)  # the origin stays as saved, to tell later changes
    engine.replace_job(job)
    engine.catalog.origin = saved
    header = saved.header
    said = [(f"Loaded job '{header.name}' version {header.version} ('{header.message}', saved "
             f"{header.saved}): {_tasks_text(job)}.")]
    if job.variables:
        said.append(f"Its variables: {_variables_text(job.variables)}; "
                    "#%submit_job(variables=[(NAME, VALUE)]) runs it with others.")
    if replaced:
        said.append(f"It replaces {replaced}" + (" (dropped: replace=on)." if unsaved else "."))
    ctx.stream("stdout", "\n".join(said) + "\n")


def _check_code(saved: JobFile) -> None:
    """Compile the Python code of the file now, at its own lines, as a cell's is at
    definition: a hand edit that broke it is found before the job replaces anything."""
    job = saved.job
    pieces = [(t.code, t.language, t.source) for t in job.tasks.values()]
    for task in job.tasks.values():
        for script in (task.pre_script, task.post_script, task.flow.script):
            if script is not None:
                pieces.append((script.code, script.language, script.source))
    for language, code in job.import_code.items():
        pieces.append((code, language, job.import_source[language]))
    for code, language, source in pieces:
        if language == "Python":
            error = check_python_syntax(code, source)
            if error is not None:
                raise error


@pragma(
    "delete_saved_job",
    family="catalog",
    summary="deletes one version of a saved job, or all of them",
    params=[JOB_NAME, Param("version", "word", required=True, suggestions=("all",),
                            help="the version's number, or all")],
    example="#%save_job(name=scratch, message='to be deleted')\n\n"
    "#%delete_saved_job(name=scratch, version=all)",
    details="The other versions keep their numbers. Deleting the newest version lets the "
    "next save take its number again.",
)
def delete_saved_job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    store = _catalog(engine, ctx)
    name, version = call.args["name"], str(call.args["version"])
    number = None if version == "all" else _version_arg(call, "version", version)
    removed = store.delete(name, number)
    which = "every version" if number is None else "version"
    ctx.stream("stdout", f"Deleted {which} of job '{name}': "
                         f"{', '.join(f'v{n}' for n in removed)}.\n")


@pragma(
    "parameters",
    family="catalog",
    summary="sets run parameters: values of job variables for every later #%submit_job",
    params=[Param("variables", "pairs", required=True, help="the values, e.g. [(N, 10)]; [] "
                  "clears them")],
    example="#%parameters(variables=[(EPOCHS, 20)])",
    details="What the headless runner's -p NAME VALUE writes (python -m "
    "pragma_kernel.kernel.run_notebook nb.ipynb -p EPOCHS 20), in a cell tagged "
    "injected-parameters at the top of the notebook, as papermill does. At each #%submit_job "
    "a parameter replaces the value of the job variable of that name declared by "
    "#%job(variables=...); one the job does not declare is not applied, and the cell says so. "
    "#%submit_job(variables=...) wins over both.",
)
def parameters(engine: Any, call: PragmaCall, ctx: Any) -> None:
    engine.parameters = dict(call.args["variables"])
    if not engine.parameters:
        ctx.stream("stdout", "Run parameters cleared.\n")
        return
    ctx.stream("stdout", f"Run parameters: {_variables_text(engine.parameters)} (they replace "
                         "the job variables of those names at every #%submit_job).\n")


@pragma(
    "submit_from_catalog",
    family="catalog",
    summary="submits a workflow stored in ProActive's catalog (what the proactive SDK allows)",
    params=[
        Param("bucket", "word", required=True, help="the catalog bucket"),
        Param("workflow", "word", required=True, help="the workflow's name in the bucket"),
        Param("variables", "pairs", default={}, help="values of the workflow's variables"),
    ],
    backends=PROACTIVE_ONLY,
    example="#%submit_from_catalog(bucket=basic-examples, workflow=Print_File_Name)",
    details="The one catalog call of the proactive SDK (submitWorkflowFromCatalog): the server "
    "runs the workflow; the cell prints its job id. Such a workflow was not built by "
    "pragmas, so its progress and results are followed in ProActive's portals "
    "(#%show_scheduling_portal()), not in the notebook.",
)
def submit_from_catalog(engine: Any, call: PragmaCall, ctx: Any) -> None:
    backend = engine.get_backend()
    if backend.name != "proactive":
        ctx.stream("stdout", f"#%submit_from_catalog submits from ProActive's catalog; the "
                             f"{backend.name} backend has none. Connect first: "
                             "#%connect(host=..., login=...). Nothing submitted.\n")
        return
    bucket, workflow = call.args["bucket"], call.args["workflow"]
    job_id = backend.submit_from_catalog(bucket, workflow, dict(call.args["variables"]))
    ctx.stream("stdout", f"Submitted {bucket}/{workflow} from ProActive's catalog as job "
                         f"{job_id}; follow it in the scheduling portal: "
                         f"{backend.portal_url('scheduling_portal')}\n")


@pragma(
    "new_job",
    family="catalog",
    summary="starts a new, empty job (to write another one, e.g. a second template)",
    params=[
        Param("name", "word", help="its name (default: the notebook's)"),
        Param("replace", "flag", default=False, help="drop the job being written even if no "
              "version holds it as it is"),
    ],
    example="#%new_job(name=cleaning)",
    details="As with #%load_job, the job being written is never dropped silently: if it is "
    "saved as it is, the cell says what it replaces; if not, it is refused (save it first, or "
    "replace=on).",
)
def new_job(engine: Any, call: PragmaCall, ctx: Any) -> None:
    replaced = None if _is_empty(engine.job) else _what_is_written(engine)
    unsaved = _unsaved(engine)
    if unsaved and not call.args["replace"]:
        raise UnsavedJobError(
            f"a new job would replace {replaced}: its changes would be lost. Save it first "
            "(#%save_job(message=...)), or replace=on to drop it")
    engine.replace_job(Job(name=call.args.get("name")))
    engine.catalog.origin = None
    name = f"job '{call.args['name']}'" if call.args.get("name") else "job"
    said = f"New {name}, empty."
    if replaced:
        said += f" It replaces {replaced}" + (" (dropped: replace=on)." if unsaved else ".")
    ctx.stream("stdout", said + "\n")
