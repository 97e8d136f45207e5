"""execute_request through jupyter_client: counter, silent, stop_on_error, user_expressions,
output batching and order."""

from __future__ import annotations

from tests.conftest import collect_iopub, execute, shell_reply


def test_execution_count_increments_and_is_on_input_result_and_reply(fresh_kernel):
    _, kc = fresh_kernel
    for expected in (1, 2, 3):
        msg_id = kc.execute("40 + 2")
        reply = shell_reply(kc, msg_id)
        iopub = collect_iopub(kc, msg_id)
        assert reply["content"]["execution_count"] == expected
        counts = [
            m["content"]["execution_count"]
            for m in iopub
            if m["msg_type"] in ("execute_input", "execute_result")
        ]
        assert counts == [expected, expected]


def test_store_history_false_does_not_increment(kernel):
    _, kc = kernel
    reply, _ = execute(kc, "1")
    count = reply["content"]["execution_count"]
    reply, _ = execute(kc, "2", store_history=False)
    assert reply["content"]["execution_count"] == count
    reply, _ = execute(kc, "3")
    assert reply["content"]["execution_count"] == count + 1


def test_silent_publishes_nothing_but_status(kernel):
    _, kc = kernel
    msg_id = kc.execute("print('hidden'); import sys; print('e', file=sys.stderr); 99", silent=True)
    reply = shell_reply(kc, msg_id)
    iopub = collect_iopub(kc, msg_id)
    assert reply["content"]["status"] == "ok"
    assert [m["msg_type"] for m in iopub] == ["status", "status"]
    again = shell_reply(kc, kc.execute("", silent=True))
    assert again["content"]["execution_count"] == reply["content"]["execution_count"]


def test_silent_error_publishes_nothing_and_aborts_nothing(kernel):
    _, kc = kernel
    failing = kc.execute("1/0", silent=True)
    following = kc.execute("'still here'")
    assert shell_reply(kc, failing)["content"]["status"] == "error"
    assert [m["msg_type"] for m in collect_iopub(kc, failing)] == ["status", "status"]
    assert shell_reply(kc, following)["content"]["status"] == "ok"


def test_error_is_one_error_message_and_an_error_reply(kernel):
    _, kc = kernel
    reply, outputs = execute(kc, "raise ValueError('boom')")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ValueError"
    assert reply["content"]["evalue"] == "boom"
    assert "execution_count" in reply["content"]
    assert [m["msg_type"] for m in outputs] == ["error"]
    assert outputs[0]["content"]["ename"] == "ValueError"


def test_stop_on_error_aborts_the_queued_executes(kernel):
    _, kc = kernel
    failing = kc.execute("import time; time.sleep(0.3); 1/0")
    queued = [kc.execute("'never'"), kc.execute("'never either'")]
    info = kc.kernel_info()  # a non-execute request in the queue is served normally
    assert shell_reply(kc, failing)["content"]["status"] == "error"
    for msg_id in queued:
        reply = shell_reply(kc, msg_id)
        assert reply["content"]["status"] == "aborted"
        assert isinstance(reply["content"]["execution_count"], int)
        statuses = [m["content"]["execution_state"] for m in collect_iopub(kc, msg_id)]
        assert statuses == ["busy", "idle"]
    assert shell_reply(kc, info)["content"]["status"] == "ok"
    reply, _ = execute(kc, "'after the abort'")
    assert reply["content"]["status"] == "ok"


def test_stop_on_error_false_runs_the_queued_executes(kernel):
    _, kc = kernel
    failing = kc.execute("import time; time.sleep(0.3); 1/0", stop_on_error=False)
    queued = kc.execute("'runs anyway'")
    assert shell_reply(kc, failing)["content"]["status"] == "error"
    assert shell_reply(kc, queued)["content"]["status"] == "ok"


def test_interrupted_cell_also_aborts_the_queue_but_not_later_requests(fresh_kernel):
    km, kc = fresh_kernel
    running = kc.execute("import time\nwhile True: time.sleep(0.01)")
    queued = kc.execute("'queued'")
    collect_until(kc, running, "execute_input")
    km.interrupt_kernel()
    assert shell_reply(kc, running)["content"]["ename"] == "KeyboardInterrupt"
    assert shell_reply(kc, queued)["content"]["status"] == "aborted"
    reply, _ = execute(kc, "'fine'")
    assert reply["content"]["status"] == "ok"


def collect_until(kc, msg_id: str, msg_type: str, timeout: float = 30) -> None:
    while True:
        message = kc.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == msg_type:
            return


def test_user_expressions_ok_and_error(kernel):
    _, kc = kernel
    reply, _ = execute(
        kc, "ux = 6", user_expressions={"product": "ux * 7", "broken": "1/0"}
    )
    expressions = reply["content"]["user_expressions"]
    assert expressions["product"]["status"] == "ok"
    assert expressions["product"]["data"]["text/plain"] == "42"
    assert expressions["broken"]["status"] == "error"
    assert expressions["broken"]["ename"] == "ZeroDivisionError"


def test_user_expressions_are_empty_after_an_error(kernel):
    _, kc = kernel
    reply, _ = execute(kc, "1/0", user_expressions={"x": "1"}, stop_on_error=False)
    assert reply["content"]["user_expressions"] == {}


def test_many_prints_are_batched_into_few_stream_messages(kernel):
    _, kc = kernel
    _, outputs = execute(kc, "for i in range(2000): print(i)")
    streams = [m for m in outputs if m["msg_type"] == "stream"]
    assert "".join(m["content"]["text"] for m in streams) == "".join(f"{i}\n" for i in range(2000))
    assert len(streams) < 20


def test_output_keeps_the_order_of_print_display_and_stderr(kernel):
    _, kc = kernel
    code = (
        "import sys\n"
        "print('one')\n"
        "display({'text/plain': 'two'}, raw=True)\n"
        "print('three', file=sys.stderr)\n"
        "print('four')\n"
        "'five'"
    )
    reply, outputs = execute(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    seen = [
        m["content"].get("text") or m["content"]["data"]["text/plain"]
        for m in outputs
    ]
    assert [s.strip() for s in seen] == ["one", "two", "three", "four", "'five'"]


def test_output_of_a_background_thread_goes_to_the_latest_cell(kernel):
    _, kc = kernel
    execute(kc, "import threading; gate = threading.Event()\n"
                "def late():\n    gate.wait(); print('from the thread')\n"
                "threading.Thread(target=late).start()")
    reply, outputs = execute(kc, "gate.set(); import time; time.sleep(0.3)")
    assert reply["content"]["status"] == "ok"
    texts = [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"]
    assert "".join(texts) == "from the thread\n"


def test_system_exit_leaves_the_kernel_answering(kernel):
    _, kc = kernel
    reply, _ = execute(kc, "import sys; sys.exit(3)", stop_on_error=False)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "SystemExit"
    reply, _ = execute(kc, "'alive'")
    assert reply["content"]["status"] == "ok"


def test_a_pragma_cell_counts_and_is_recorded_like_any_cell(kernel):
    _, kc = kernel
    reply, _ = execute(kc, "#%help()")
    count = reply["content"]["execution_count"]
    reply, outputs = execute(kc, "In[-1]")
    assert reply["content"]["execution_count"] == count + 1
    assert outputs[-1]["content"]["data"]["text/plain"] == repr("In[-1]")
    reply, outputs = execute(kc, f"In[{count}]")
    assert outputs[-1]["content"]["data"]["text/plain"] == repr("#%help()")


def test_logging_basic_config_in_a_cell_logs_to_the_cell(kernel):
    _, kc = kernel
    code = "import logging\nlogging.basicConfig()\nlogging.getLogger('user').warning('seen')"
    _, outputs = execute(kc, code)
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert text == "WARNING:user:seen\n"


def test_output_of_a_long_cell_arrives_while_it_runs(kernel):
    _, kc = kernel
    msg_id = kc.execute("print('early', flush=False)\nimport time\ntime.sleep(3)")
    while True:
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream":
            break
    assert message["content"]["text"] == "early\n"
    assert not kc.shell_channel.msg_ready(), "the stream came only with the reply"
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    collect_iopub(kc, msg_id)


def test_stdout_behaves_like_a_text_file(kernel):
    _, kc = kernel
    code = (
        "import sys, os\n"
        "try:\n    sys.stdout.write(b'x')\nexcept TypeError as e:\n    err = str(e)\n"
        "(sys.stdout.isatty(), sys.stdout.writable(), sys.stdout.encoding,"
        " isinstance(sys.stdout.fileno(), int), err.startswith('write() argument'))"
    )
    reply, outputs = execute(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert outputs[-1]["content"]["data"]["text/plain"] == "(False, True, 'utf-8', True, True)"


def test_silent_requests_do_not_swallow_a_background_threads_output(kernel):
    _, kc = kernel
    visible = kc.execute(
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(1), print('late'))).start()"
    )
    collect_iopub(kc, visible)
    execute(kc, "pass", silent=True)  # the latest request now, but it shows nothing
    while True:
        message = kc.get_iopub_msg(timeout=30)
        if message["msg_type"] == "stream":
            break
    assert message["content"]["text"] == "late\n"
    assert message["parent_header"]["msg_id"] == visible
