"""Runs in each new IPython scratch kernel: cuts each execution's output to a cap *inside*
the kernel, so a 50 MB print never crosses the wire (see ``scratch.py``)."""

from __future__ import annotations

from typing import Any

NOTE = "\n[output cut by the tutor]\n"
KINDS = {"stream", "display_data", "execute_result", "update_display_data"}


def size(msg_type: str, content: dict[str, Any]) -> int:
    """Characters of text an output message carries."""
    if msg_type == "stream":
        return len(content.get("text", ""))
    return sum(len(v) for v in content.get("data", {}).values() if isinstance(v, str))


def cut(msg_type: str, content: dict[str, Any], left: int) -> dict[str, Any]:
    """``content`` cut to ``left`` characters, with a note saying so."""
    if msg_type == "stream":
        return dict(content, text=content["text"][:left] + NOTE)
    text = str(content.get("data", {}).get("text/plain", ""))[:left] + NOTE
    return dict(content, data={"text/plain": text}, metadata={})


def cap_output(session: Any, limit: int) -> None:
    """Wrap ``session.send`` so each request's outputs total at most ``limit`` characters."""
    from jupyter_client.session import extract_header

    send = session.send
    state: dict[str, Any] = {"parent": None, "left": limit}

    def capped(
        stream: Any, msg_type: Any, content: Any = None, parent: Any = None, *args: Any, **kw: Any
    ) -> Any:
        if isinstance(msg_type, str) and msg_type in KINDS and isinstance(content, dict):
            msg_id = extract_header(parent or {}).get("msg_id")
            if msg_id != state["parent"]:
                state.update(parent=msg_id, left=limit)
            left, needed = state["left"], size(msg_type, content)
            if needed > left:
                if left <= 0:
                    return None
                content, needed = cut(msg_type, content, left), left
            state["left"] = left - needed
        return send(stream, msg_type, content, parent, *args, **kw)

    session.send = capped


def install(limit: int) -> None:
    """Cap this IPython kernel's outputs (the call sent to the kernel)."""
    from IPython import get_ipython

    cap_output(get_ipython().kernel.session, limit)
