"""The kernel in a real JupyterLab 4, in a real browser (headless Debian chromium, Playwright).

- the demo notebook runs: the DAG picture, the job display's final state and a task's figure are
  on the page, and the browser console has no error;
- the job display is readable in JupyterLab Light and Dark (WCAG contrast of each text with its
  background, from computed styles and from the screenshot's pixels), with the screenshots kept;
- a widget renders as a slider (ipywidgets);
- a kernel restart in the middle of a job leaves no display claiming that it runs;
- a slider moved while a cell runs is answered by a subshell;
- JupyterLab's debugger panel shows the variables of a cell stopped at a breakpoint set in its
  gutter, and Continue lets the cell finish.
"""

from __future__ import annotations

import io
import re

import pytest
from pragma_kernel.pragmas.progress import STALE_AFTER

from tests.browser.lab import LabPage
from tests.conftest import ROOT

_KERNEL = "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
_IDLE = f"() => {_KERNEL}.status === 'idle'"

DEMO = ROOT / "notebooks" / "demo.ipynb"
MIN_CONTRAST = 4.5  #: WCAG AA for normal text
THEMES = ("JupyterLab Light", "JupyterLab Dark")


@pytest.fixture(scope="module")
def demo(browser, lab):
    """The demo notebook, run once in its own page for the tests of this module that read it."""
    page = LabPage.new(browser, lab)
    page.open(lab.add_notebook("demo.ipynb", source=DEMO))
    page.run_all()
    yield page
    page.page.context.close()


def test_the_demo_shows_its_dag_its_final_job_state_and_a_task_figure(demo):
    dag = demo.cell_of("#%draw_job()").locator(".jp-OutputArea-output img, "
                                               ".jp-OutputArea-output svg")
    assert dag.count() >= 1 and dag.first.bounding_box()["width"] > 100
    submit = demo.cell_of("#%submit_job()")
    job = submit.locator(".pragma-job")
    assert job.count() == 1
    headline = job.locator("b").first.inner_text()
    assert headline.startswith("Job monte_carlo_pi (finished on local"), headline
    assert headline.endswith("4/4 done"), headline
    assert "wall time" in job.inner_text() and "speed-up" in job.inner_text()
    assert job.locator(".pragma-job-stale").count() == 0
    figure = submit.locator(".jp-RenderedImage img")
    assert figure.count() >= 1 and figure.first.bounding_box()["height"] > 100
    text = submit.inner_text()
    assert "[generate] 4,000,000 random points" in text and "[job " not in text
    assert demo.errors == []


@pytest.mark.parametrize("theme", THEMES)
def test_the_job_display_is_readable_in_light_and_dark(demo, theme, tmp_path_factory):
    demo.use_theme(theme)
    job = demo.cell_of("#%submit_job()").locator(".pragma-job")
    job.scroll_into_view_if_needed()
    contrasts = demo.text_contrasts(job)
    assert len(contrasts) >= 10  # headline, time, each task's name, state and time, summary
    weak = [c for c in contrasts if c["ratio"] < MIN_CONTRAST]
    assert not weak, f"{theme}: text hard to read: {weak}"
    shot = tmp_path_factory.mktemp("screenshots") / f"job-{theme.split()[-1].lower()}.png"
    job.screenshot(path=str(shot))
    assert _pixel_contrast(shot.read_bytes()) >= MIN_CONTRAST, shot
    print(f"{theme}: {shot}")
    assert demo.errors == []


def _pixel_contrast(png: bytes) -> float:
    """The contrast between the picture's dominant colour (the background) and its pixel that
    stands out most from it (text): what a reader's eye gets."""
    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGB")
    colours = picture.getcolors(maxcolors=1 << 20)
    background = max(colours)[1]
    lum = [_luminance(c) for _, c in colours]
    back = _luminance(background)
    far = max(lum, key=lambda value: abs(value - back))
    hi, lo = max(far, back), min(far, back)
    return (hi + 0.05) / (lo + 0.05)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def linear(v: int) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_a_widget_renders_as_a_slider(page, lab):
    page.open(lab.add_notebook("widgets.ipynb",
                               cells=["import ipywidgets\nipywidgets.IntSlider(value=3, max=9)"]))
    page.run_all()
    slider = page.cell(0).locator(".jp-OutputArea-output .widget-slider")
    slider.first.wait_for(state="visible", timeout=30_000)
    assert page.cell(0).locator(".widget-readout").first.inner_text() == "3"
    assert "Error" not in page.cell(0).inner_text()
    assert page.errors == []


def test_a_restart_mid_job_leaves_no_display_claiming_it_runs(page, lab):
    cells = ["#%connect(backend=local, workers=1)",
             "#%task(name=sleeper)\nimport time\nprint('asleep')\ntime.sleep(120)",
             "#%submit_job(wait=off)"]
    page.open(lab.add_notebook("restart.ipynb", cells=cells))
    page.run_all()
    job = page.cell(2).locator(".pragma-job")
    stale = job.locator(".pragma-job-stale")
    # while the kernel updates the display, its stale note stays hidden, also past its delay
    page.page.wait_for_function(
        "([cell, after]) => { const m = cell.innerText.match(/1 running\\s+([\\d.]+) s/); "
        "return m && Number(m[1]) > after; }",
        arg=[page.cell(2).element_handle(), STALE_AFTER + 2], timeout=60_000)
    assert not stale.is_visible()
    # JupyterLab's restart drops every message of the old kernel from the moment it is asked
    page.page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")
    stale.wait_for(state="visible", timeout=60_000)
    assert re.search(r"No news from the kernel for \d+ s", stale.inner_text())
    assert stale.bounding_box()["height"] > 5
    assert page.errors == []


def test_a_slider_moved_while_a_cell_runs_is_answered_by_a_subshell(page, lab):
    """JupyterLab (4.4+) sends a widget's messages to a subshell of its comm target when the
    kernel advertises subshells: the slider's observer runs while the main shell sleeps."""
    cell = ("import ipywidgets, threading\n"
            "slider = ipywidgets.IntSlider(value=3, max=9)\n"
            "label = ipywidgets.Label('not moved')\n"
            "def moved(change):\n"
            "    label.value = f'{change.new} in {threading.current_thread().name[:9]}'\n"
            "slider.observe(moved, 'value')\n"
            "ipywidgets.VBox([slider, label])")
    page.open(lab.add_notebook("subshell-widgets.ipynb", cells=[cell]))
    page.run_all()
    handle = page.cell(0).locator(".noUi-handle").first
    handle.wait_for(state="visible", timeout=30_000)
    page.page.evaluate(f"() => {{ window.sleeping = true; {_KERNEL}.requestExecute("
                       "{code: 'import time\\ntime.sleep(120)'}).done.then("
                       "() => { window.sleeping = false; }); return null; }")
    page.page.wait_for_function(f"() => {_KERNEL}.status === 'busy'", timeout=30_000)
    handle.focus()
    handle.press("ArrowRight")
    label = page.cell(0).locator(".widget-label", has_text="subshell")
    label.wait_for(state="visible", timeout=30_000)
    assert label.inner_text() == "4 in subshell-"
    assert page.page.evaluate("() => window.sleeping")  # the main shell sleeps on
    page.page.evaluate(f"() => {_KERNEL}.interrupt()")
    assert page.errors == []


def test_the_debugger_panel_shows_the_variables_of_a_stopped_cell(page, lab):
    """JupyterLab's debugger on this kernel, as a person uses it: the bug toggle (offered because
    kernel_info says ``"debugger": true``) starts a session, a click in the cell's gutter sets a
    breakpoint, running the cell stops there with the Variables panel listing what the cell has
    defined so far, and Continue lets the cell finish. The panels name the cell ``Cell [n]``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page.open(lab.add_notebook("debugger.ipynb", cells=["x = 41\ny = x + 1\nprint(y)"]))
    bug = page.page.locator(".jp-NotebookPanel-toolbar .jp-DebuggerBugButton")
    expect(bug).to_have_attribute("aria-disabled", "false", timeout=30_000)
    bug.click()
    expect(bug).to_have_attribute("aria-pressed", "true", timeout=30_000)
    sidebar = page.page.locator("#jp-debugger-sidebar")
    expect(sidebar).to_be_visible(timeout=30_000)

    # a breakpoint on line 2 (the breakpoint gutter's element 0 is CodeMirror's spacer); a click
    # that comes before the editor's debugger handler is lost, so it is repeated (as galata does)
    line_2 = page.cell(0).locator(".cm-breakpoint-gutter > .cm-gutterElement").nth(2)
    icon = line_2.locator(".cm-breakpoint-icon")
    for _ in range(3):
        line_2.click(position={"x": 5, "y": 5})
        try:
            icon.wait_for(timeout=3_000)
            break
        except PlaywrightTimeout:
            continue
    expect(icon).to_have_count(1)
    breakpoints = sidebar.locator(".jp-DebuggerBreakpoints .jp-DebuggerBreakpoint")
    expect(breakpoints).to_have_count(1, timeout=30_000)
    expect(breakpoints).to_contain_text("Cell [ ]")  # not the cell file's temporary path
    frames = sidebar.locator(".jp-DebuggerCallstack-body .jp-DebuggerCallstackFrame")
    expect(frames).to_have_count(0)

    # the run stops on line 2, with x defined and y not yet
    page.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    expect(frames).to_have_count(1, timeout=30_000)
    expect(frames).to_contain_text(re.compile(r"<module>\s*Cell \[\*\]:2"))
    variables = sidebar.locator(".jp-DebuggerVariables-body:not(.lm-mod-hidden)")
    names = variables.locator("[role=treeitem] > .jp-DebuggerVariables-name")
    x = variables.get_by_role("treeitem").filter(has=page.page.get_by_text("x", exact=True))
    expect(x.locator(".jp-DebuggerVariables-detail")).to_have_text("41", timeout=30_000)
    assert "y" not in names.all_inner_texts()
    assert "42" not in page.cell(0).locator(".jp-OutputArea").inner_text()

    sidebar.locator("jp-button[data-command='debugger:continue']").click()
    expect(page.cell(0).locator(".jp-OutputArea-output")).to_have_text("42", timeout=30_000)
    expect(frames).to_have_count(0, timeout=30_000)
    page.page.wait_for_function(_IDLE, timeout=30_000)
    assert page.errors == []
