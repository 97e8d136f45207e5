"""Pragma family: proactive — export_xml, the portals (show_*) and the resource lists (list_*).

``#%export_xml`` works on every backend: the SDK's JVM starts on demand. The portals show the
ProActive server's pages, or the Dask dashboard on Dask; the resource lists need a ProActive
connection and say plainly that they do not apply elsewhere.
"""

from __future__ import annotations

import html
import os
from typing import Any

from pragma_kernel.pragmas.declaration import PROACTIVE_ONLY, Param, PragmaCall, pragma
from pragma_kernel.pragmas.errors import PragmaStateError
from pragma_kernel.pragmas.private_files import write_private

PORTAL_PARAMS = [
    Param("host", "word", help="the server's host name as your browser reaches it (default: "
          "the host connected to)"),
    Param("height", "int", default=600, minimum=1, maximum=100_000,
          help="height of the embedded portal in pixels"),
    Param("width", "word", default="100%", help="width of the embedded portal (pixels or %)"),
]  # fmt: skip


@pragma(
    "export_xml",
    family="proactive",
    summary="exports the job as ProActive workflow XML",
    params=[Param("name", "word", help="the file name without .xml (default: the job's name)")],
    example="#%export_xml(name=my_workflow)",
    details="Writes <name>.xml in the working directory, checked by ProActive's own validator. "
    "Works on every backend, without a server: the SDK's Java runtime starts on demand (Java "
    "must be installed, e.g. `apt-get install default-jre-headless`).",
)
def export_xml(engine: Any, call: PragmaCall, ctx: Any) -> None:
    plan = engine.plan(ctx, call.args.get("name"), files_needed=False)
    xml = workflow_xml(plan)
    file_name = f"{call.args.get('name') or plan.name}.xml"
    write_private(file_name, xml)
    ctx.stream("stdout", f"Workflow '{plan.name}' ({len(plan.tasks)} task(s)) exported to "
                         f"{os.path.abspath(file_name)}\n")


def workflow_xml(plan: Any) -> str:
    """The plan as ProActive workflow XML, checked by ProActive's validator (also what
    ``#%save_job(xml=on)`` keeps beside a version)."""
    from pragma_kernel.pragmas import proactive_jvm
    from pragma_kernel.pragmas.backends.proactive_job import WorkflowBuildError, export_workflow_xml

    try:
        xml = export_workflow_xml(plan)
        proactive_jvm.validate_workflow_xml(xml)
    except (proactive_jvm.JavaMissingError, proactive_jvm.SDKMissingError) as missing:
        raise PragmaStateError(str(missing)) from None
    except WorkflowBuildError as problem:
        raise PragmaStateError(f"the job cannot be exported to ProActive: {problem}") from None
    except proactive_jvm.WorkflowXMLInvalid as invalid:
        raise PragmaStateError(f"ProActive's validator rejected the exported workflow (a bug "
                               f"of pragma-kernel, please report it): {invalid}") from None
    return xml


def _show_portal(engine: Any, call: PragmaCall, ctx: Any, portal: str, title: str) -> None:
    from pragma_kernel.pragmas.backends.proactive import ProActiveBackend

    backend = engine.get_backend()
    if isinstance(backend, ProActiveBackend):
        url = backend.portal_url(portal, call.args.get("host"))
    else:
        url = backend.dashboard_url()
        if url is None:
            ctx.stream("stdout", f"The {backend.name} backend has no portal: {title} is "
                                 "ProActive's (connect with #%connect(host=...)); nothing to "
                                 "show here.\n")
            return
        title = f"the {backend.name} dashboard"
    ctx.display(_iframe(url, title, call.args["width"], call.args["height"]))


def _iframe(url: str, title: str, width: str, height: int) -> dict[str, str]:
    src = html.escape(url, quote=True)
    width = str(width)
    css_width = width if width.endswith(("%", "px")) else f"{width}px"
    return {
        "text/html": f'<iframe src="{src}" title="{html.escape(title)}" '
        f'style="width:{html.escape(css_width)};height:{int(height)}px;border:0"></iframe>'
        f'<div><a href="{src}" target="_blank">Open {html.escape(title)} in a new tab</a></div>',
        "text/plain": f"{title}: {url}",
    }


@pragma(
    "show_resource_manager",
    family="proactive",
    summary="shows ProActive's resource manager portal (the Dask dashboard on Dask)",
    params=PORTAL_PARAMS,
    example="#%show_resource_manager(height=800)",
)
def show_resource_manager(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _show_portal(engine, call, ctx, "resource_manager", "ProActive's resource manager")


@pragma(
    "show_scheduling_portal",
    family="proactive",
    summary="shows ProActive's scheduling portal (the Dask dashboard on Dask)",
    params=PORTAL_PARAMS,
    example="#%show_scheduling_portal()",
)
def show_scheduling_portal(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _show_portal(engine, call, ctx, "scheduling_portal", "ProActive's scheduling portal")


@pragma(
    "show_workflow_execution",
    family="proactive",
    summary="shows ProActive's workflow execution portal (the Dask dashboard on Dask)",
    params=PORTAL_PARAMS,
    example="#%show_workflow_execution(width=1200, height=700)",
    details="#%show_workflow_automation is the same pragma: its name in Activeeon's kernel up "
    "to release 13.0.4 (the portal was renamed since).",
    aliases=("show_workflow_automation",),
)
def show_workflow_execution(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _show_portal(engine, call, ctx, "workflow_execution", "ProActive's workflow execution portal")


_RESOURCE_TITLES = {"nodesources": "Node sources", "hosts": "Hosts", "tokens": "Tokens"}


def _list_resources(engine: Any, ctx: Any, kinds: tuple[str, ...], pragma_name: str) -> None:
    from pragma_kernel.pragmas.backends.proactive import ProActiveBackend

    backend = engine.get_backend()
    if not isinstance(backend, ProActiveBackend):
        engine.say_once(
            f"not-here:{pragma_name}",
            f"#%{pragma_name} lists a ProActive server's resources; it does not apply to the "
            f"{backend.name} backend (connect with #%connect(host=...) to use it).",
            ctx,
        )
        return
    try:
        columns = {kind: backend.resources(kind) for kind in kinds}
    except ConnectionError as lost:
        raise PragmaStateError(str(lost)) from None
    ctx.display(resource_table(columns))


def resource_table(columns: dict[str, list[str]]) -> dict[str, str]:
    """An HTML table (and a text fallback) with one column per resource kind."""
    rows = max((len(v) for v in columns.values()), default=0)
    head = "".join(f"<th>{_RESOURCE_TITLES.get(k, k)}</th>" for k in columns)
    body = "".join(
        "<tr>" + "".join(
            f"<td>{html.escape(values[i]) if i < len(values) else ''}</td>"
            for values in columns.values()
        ) + "</tr>"
        for i in range(rows)
    )  # fmt: skip
    text = "\n".join(
        f"{_RESOURCE_TITLES.get(k, k)}: {', '.join(v) if v else '(none)'}"
        for k, v in columns.items()
    )
    if not rows:
        body = f'<tr><td colspan="{len(columns)}">(none)</td></tr>'
    return {"text/html": f"<table><tr>{head}</tr>{body}</table>", "text/plain": text}


@pragma(
    "list_nodesources",
    family="proactive",
    summary="lists the node sources of the ProActive server",
    backends=PROACTIVE_ONLY,
    example="#%list_nodesources()",
)
def list_nodesources(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _list_resources(engine, ctx, ("nodesources",), "list_nodesources")


@pragma(
    "list_hosts",
    family="proactive",
    summary="lists the hosts of the ProActive server",
    backends=PROACTIVE_ONLY,
    example="#%list_hosts()",
)
def list_hosts(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _list_resources(engine, ctx, ("hosts",), "list_hosts")


@pragma(
    "list_tokens",
    family="proactive",
    summary="lists the node access tokens of the ProActive server",
    backends=PROACTIVE_ONLY,
    example="#%list_tokens()",
)
def list_tokens(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _list_resources(engine, ctx, ("tokens",), "list_tokens")


@pragma(
    "list_resources",
    family="proactive",
    summary="lists the node sources, hosts and tokens of the ProActive server",
    backends=PROACTIVE_ONLY,
    example="#%list_resources()",
)
def list_resources(engine: Any, call: PragmaCall, ctx: Any) -> None:
    _list_resources(engine, ctx, ("nodesources", "hosts", "tokens"), "list_resources")
