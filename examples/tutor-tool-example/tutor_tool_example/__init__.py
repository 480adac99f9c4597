"""``describe_dataset``: the columns, size and first rows of a CSV file, for the model.

A complete example of a Jupyter Tutor tool plugin (see docs/tools.md in the tutor's
repository): a :class:`~jupyter_tutor_server.tools.Tool` subclass with a name, a
description and an input schema for the model, an async ``run``, and a setting of its own.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_tutor_server.tools import Tool, ToolContext, ToolError, argument, object_schema
from traitlets import Integer


class DescribeDataset(Tool):
    name = "describe_dataset"
    description = (
        "The columns, number of rows and first rows of a CSV file in the student's folder "
        "(e.g. the course's dataset). Use it before explaining code that reads the file."
    )
    input_schema = object_schema(
        {"path": {"type": "string", "description": "The CSV file, relative to the root."}},
        ("path",),
    )

    # A setting of the tool's own: `c.DescribeDataset.preview_rows = 5` in the server config.
    preview_rows = Integer(3, help="Rows shown after the header.").tag(config=True)

    async def run(self, input: dict[str, Any], context: ToolContext) -> str:
        path = argument(input, "path", str)
        if not path or not path.endswith(".csv"):
            raise ToolError("`path` must name a .csv file, relative to the server root.")
        # Through the contents manager: the server's root and permission rules apply.
        try:
            model = await ensure_async(
                context.contents_manager.get(path, content=True, type="file", format="text")
            )
        except Exception as err:
            raise ToolError(f"{path} could not be read: {err}") from err
        rows = list(csv.reader(io.StringIO(model["content"])))
        if not rows:
            return f"{path} is empty."
        header, body = rows[0], rows[1:]
        preview = "\n".join(", ".join(row) for row in body[: self.preview_rows])
        return (
            f"{path}: {len(body)} rows, {len(header)} columns: {', '.join(header)}\n"
            f"First rows:\n{preview}"
        )
