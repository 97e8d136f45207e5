"""Ancestry: every task's ancestors in the plan's order, also along a long chain."""

from pragma_kernel.pragmas.ancestry import Ancestry


def scan(order, deps, name):
    """The plain definition: search, then list in ``order``."""
    seen, stack = set(), list(deps[name])
    while stack:
        dep = stack.pop()
        if dep not in seen:
            seen.add(dep)
            stack.extend(deps[dep])
    return tuple(t for t in order if t in seen)


def test_a_diamond_lists_each_ancestor_once_in_order():
    order = ["a", "b", "c", "d"]
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["c", "b"]}
    ancestry = Ancestry(order, deps)
    assert [ancestry.of(t) for t in order] == [(), ("a",), ("a",), ("a", "b", "c")]


def test_a_long_chain_asked_link_by_link_matches_the_plain_search():
    order = [f"c{i}" for i in range(300)]
    deps = {f"c{i}": [f"c{i - 1}"] if i else [] for i in range(300)}
    ancestry = Ancestry(order, deps)
    assert all(ancestry.of(t) == scan(order, deps, t) for t in order)
    assert ancestry.of("c299") == tuple(order[:299])


def test_a_parent_listed_after_its_child_is_still_sorted_in_order():
    # control-flow edges may point against the plan's order: the shortcut must not apply
    order = ["x", "p", "y"]
    deps = {"p": ["y"], "x": ["p"], "y": []}
    ancestry = Ancestry(order, deps)
    ancestry.of("p")
    assert ancestry.of("x") == scan(order, deps, "x") == ("p", "y")


def test_names_outside_the_order_are_left_out():
    ancestry = Ancestry(["a", "b"], {"a": ["gone"], "b": ["a"], "gone": []})
    assert ancestry.of("b") == ("a",)
