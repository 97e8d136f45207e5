"""A task's text on its way out: whole lines, in order, in few batches, never held for long."""

from __future__ import annotations

import threading

from pragma_kernel.pragmas.backends.base import Output
from pragma_kernel.pragmas.output_batch import BATCH_CHARS, OutputBatcher


class Sent(list):
    """What a batcher handed on, with a way to wait for the next item."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def __call__(self, output: Output) -> None:
        self.append(output)
        self.arrived.set()

    def text(self, name: str) -> str:
        return "".join(o.text for o in self if o.kind == "stream" and o.name == name)


def test_many_lines_leave_in_few_batches_of_whole_lines_in_the_written_order():
    sent = Sent()
    batcher = OutputBatcher(sent, timed=False)
    expected = {"stdout": [], "stderr": []}
    for i in range(20_000):
        name = "stderr" if i % 5000 == 4999 else "stdout"
        batcher.write(name, f"line {i} of the loop")
        batcher.write(name, "\n")
        expected[name].append(f"line {i} of the loop\n")
    batcher.send_all()
    assert sent.text("stdout") == "".join(expected["stdout"])
    assert sent.text("stderr") == "".join(expected["stderr"])
    assert all(o.text.endswith("\n") for o in sent)
    assert len(sent) < 40  # 20,000 lines, about 470 kB: a handful of batches, not a message each
    order = [line for o in sent for line in o.text.splitlines()]
    assert order == [f"line {i} of the loop" for i in range(20_000)]


def test_an_unfinished_line_stays_whole_while_the_other_stream_writes():
    sent = Sent()
    batcher = OutputBatcher(sent, timed=False)
    batcher.write("stdout", "progress: ")
    batcher.write("stderr", "warning\n")
    batcher.write("stdout", "done\n")
    batcher.send_all()
    assert [(o.name, o.text) for o in sent] == [("stderr", "warning\n"),
                                                ("stdout", "progress: done\n")]  # fmt: skip


def test_a_line_longer_than_a_batch_is_cut_rather_than_held():
    sent = Sent()
    batcher = OutputBatcher(sent, timed=False)
    batcher.write("stdout", "x" * (BATCH_CHARS + 10))
    assert [len(o.text) for o in sent] == [BATCH_CHARS + 10]


def test_a_display_comes_after_the_text_written_before_it():
    sent = Sent()
    batcher = OutputBatcher(sent, timed=False)
    batcher.write("stdout", "before\n")
    batcher.write("stdout", "unfinished")
    batcher.send_all(then=Output("display", data={"text/plain": "picture"}))
    assert [(o.kind, o.text or o.data["text/plain"]) for o in sent] == [
        ("stream", "before\nunfinished"), ("display", "picture")]


def test_a_line_written_before_a_pause_is_sent_with_no_further_write():
    sent = Sent()
    batcher = OutputBatcher(sent)
    batcher.write("stdout", "epoch 1 done\n")
    assert sent.arrived.wait(10), "the line was held until the next write"
    assert [o.text for o in sent] == ["epoch 1 done\n"]


def test_a_flush_sends_the_unfinished_line_too():
    sent = Sent()
    batcher = OutputBatcher(sent)
    batcher.write("stdout", "downloading... ")
    batcher.flush()
    assert sent.arrived.wait(10), "a flushed line was never sent"
    assert [o.text for o in sent] == ["downloading... "]


def test_without_a_timer_nothing_leaves_before_a_batch_is_full_or_the_end():
    sent = Sent()
    batcher = OutputBatcher(sent, timed=False)
    batcher.write("stdout", "quiet\n")
    batcher.flush()
    assert sent == []
    batcher.send_all()
    assert [o.text for o in sent] == ["quiet\n"]
