"""Reading back what Graphviz drew: the nodes and edges of an SVG made by ``dot``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

_SVG = "{http://www.w3.org/2000/svg}"


def svg_nodes_and_edges(svg: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Task names and (from, to) pairs, from each ``<g class="node|edge"><title>``."""
    root = ET.fromstring(svg)
    nodes, edges = set(), set()
    for group in root.iter(f"{_SVG}g"):
        title = group.find(f"{_SVG}title")
        if title is None:
            continue
        if group.get("class") == "node":
            nodes.add(title.text)
        elif group.get("class") == "edge":
            source, _, target = title.text.partition("->")
            edges.add((source, target))
    return nodes, edges


def svg_fill_of(svg: str, node: str) -> str | None:
    """The fill colour of a node's shape."""
    root = ET.fromstring(svg)
    for group in root.iter(f"{_SVG}g"):
        title = group.find(f"{_SVG}title")
        if group.get("class") == "node" and title is not None and title.text == node:
            for shape in group:
                if shape.get("fill") not in (None, "none"):
                    return shape.get("fill")
    return None
