"""Item 6: a copy of a request reaching control while the original is still queued on shell
never makes the original be dropped: both channels answer their own."""

from __future__ import annotations

import uuid

from tests.conftest import shell_reply
from tests.reliability.wire_helpers import dealer, signed_frames, wait_until


def test_a_copy_on_control_does_not_drop_the_original_queued_on_shell(kernel, tmp_path):
    _, kc = kernel
    release = tmp_path / "release"
    blocking = kc.execute(  # keeps shell busy, so the original waits in its queue
        "import os, time\n"
        f"for _ in range(6000):\n    if os.path.exists({str(release)!r}): break\n"
        "    time.sleep(0.01)"
    )
    header = kc.session.msg_header("kernel_info_request")
    frames = signed_frames(kc.session, "kernel_info_request", {}, header=header)
    shell, control = dealer(kc, "shell"), dealer(kc, "control")
    try:
        shell.send_multipart(frames)  # the original, queued behind the cell
        control.send_multipart(frames)  # the same frames, signature and msg_id
        assert control.poll(30_000), "control did not answer its copy"
        control.recv_multipart()
        release.write_text(uuid.uuid4().hex)
        assert shell_reply(kc, blocking)["content"]["status"] == "ok"
        answered = wait_until(lambda: shell.poll(100), 30, "the original was never answered")
        assert answered
        reply = kc.session.deserialize(kc.session.feed_identities(shell.recv_multipart())[1])
        assert reply["parent_header"]["msg_id"] == header["msg_id"]
        assert reply["msg_type"] == "kernel_info_reply"
    finally:
        release.write_text("done")
        shell.close()
        control.close()


def test_a_replay_on_the_same_channel_is_still_dropped(kernel):
    _, kc = kernel
    frames = signed_frames(kc.session, "kernel_info_request", {})
    shell = dealer(kc, "shell")
    try:
        shell.send_multipart(frames)
        assert shell.poll(30_000), "the first copy was not answered"
        shell.recv_multipart()
        shell.send_multipart(frames)
        assert not shell.poll(500), "a replayed message was answered"
    finally:
        shell.close()
