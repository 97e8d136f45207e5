"""Cell files of the debugger: the names JupyterLab computes must be the kernel's."""

from __future__ import annotations

import linecache
import os

from pragma_kernel.kernel import debug_cells
from pragma_kernel.kernel.cell_sources import CellSources
from pragma_kernel.kernel.dap import MessageReader, encode_message


def test_murmur2_is_ipykernels_hash():
    """JupyterLab hashes cells as ipykernel does; ipykernel's function is the reference."""
    from ipykernel.compiler import murmur2_x86 as reference

    for text in ["", "a", "ab", "abc", "abcd", "x = 1\n", "é ✓ 😀\n" * 7, "y" * 1001]:
        assert debug_cells.murmur2_x86(text) == reference(text, debug_cells.HASH_SEED)


def test_a_cell_path_is_its_hash_in_the_process_folder():
    code = "x = 1\n"
    path = debug_cells.cell_path(code)
    assert path == os.path.join(debug_cells.cells_directory(), f"{debug_cells.murmur2_x86(code)}.py")
    assert str(os.getpid()) in debug_cells.cells_directory()


def test_while_debugging_a_cell_is_registered_under_its_written_file():
    sources = CellSources()
    code = "a = 1\nb = 2\n"
    sources.debug_files = True
    filename = sources.register(code, "Cell In[7]")
    assert filename == debug_cells.cell_path(code)
    with open(filename, encoding="utf-8") as file:
        assert file.read() == code
    assert sources.label(filename) == "Cell In[7]"
    assert linecache.getline(filename, 2) == "b = 2\n"
    assert sources.register(code, "Cell In[8]") == filename  # run again: same file
    assert sources.kept().count(filename) == 1
    sources.debug_files = False
    assert sources.register(code, "Cell In[9]") == "<Cell In[9]>"


def test_dap_messages_survive_any_split_of_the_stream():
    messages = [{"seq": 1, "type": "event", "event": "stopped"},
                {"seq": 2, "type": "response", "body": {"text": "é ✓"}}]
    stream = b"".join(encode_message(m) for m in messages)
    for cut in range(len(stream) + 1):
        reader = MessageReader()
        assert reader.feed(stream[:cut]) + reader.feed(stream[cut:]) == messages
