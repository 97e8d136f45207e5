"""The ProActive SDK's JVM (started by ``#%export_xml`` or a ProActive connect) lives as long as
the kernel: Jupyter's interrupts do not end it, and the kernel's shutdown ends it quietly."""

from __future__ import annotations

from jupyter_client.manager import start_new_kernel

from tests.conftest import KERNEL_NAME, execute, stop_kernel


def _java_children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        children = [int(child) for child in listing.read().split()]
    return [child for child in children if _command(child) == "java"]


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except FileNotFoundError:
        return ""


def test_the_jvm_survives_interrupts_and_ends_quietly_with_the_kernel(tmp_path):
    log = tmp_path / "kernel.log"
    with open(log, "wb") as stderr:
        # started as JupyterLab and nbclient do; their shutdown interrupts the kernel first
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, cwd=str(tmp_path), stderr=stderr)
        try:
            for code in ("#%task(name=a)\nx = 1", "#%submit_job()", "#%export_xml(name=wf)"):
                reply, _ = execute(kc, code, timeout=120)
                assert reply["content"]["status"] == "ok", reply["content"]
            jvms = _java_children(km.provisioner.process.pid)
            assert jvms, "export_xml started no JVM"
            km.interrupt_kernel()  # SIGINT to the kernel's process group
            reply, _ = execute(kc, "#%export_xml(name=wf2)", timeout=120)
            assert reply["content"]["status"] == "ok", reply["content"]
            assert _java_children(km.provisioner.process.pid) == jvms, "the JVM was replaced"
        finally:
            stop_kernel(km, kc)
    text = log.read_text(errors="replace")
    assert "ERROR" not in text and "Traceback" not in text, text
    assert not [pid for pid in jvms if _command(pid) == "java"], "the JVM outlived the kernel"
