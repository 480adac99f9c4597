"""Python source files: one block per top-level function or class, in source order.

The syntax tree gives the boundaries; a file that does not parse (a work in progress,
Python 2) is still indexed, as plain text cut by size.
"""

from __future__ import annotations

import ast

from .chunks import Block, fenced

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def python_blocks(text: str, filename: str) -> list[Block]:
    """The blocks of a ``.py`` file whose name is ``filename``."""
    lines = text.split("\n")
    starts: list[tuple[int, str | None]] = [(0, None)]
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        tree = None
    for node in tree.body if tree else []:
        if isinstance(node, _DEFINITIONS):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            name = node.name if isinstance(node, ast.ClassDef) else f"{node.name}()"
            starts.append((first, name))
    blocks = []
    for n, (start, label) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        code = "\n".join(lines[start:end])
        if not code.strip():
            continue
        blocks.append(
            Block(
                text=fenced(code, "python"),
                heading=(filename, label) if label else (filename,),
                kind="code",
                starts_section=True,
                metadata={"line": start + 1},
            )
        )
    return blocks
