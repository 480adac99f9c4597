"""The whole chain under a real JupyterHub: a spawned single-user server's chat API, its
JupyterHub token to the gateway, the gateway to the fake Anthropic API; and ``%tutor`` in
a kernel of that server, with the kernel token under the hub's ``/user/NAME/`` URL.
"""

from __future__ import annotations

import json
import secrets

import httpx
from fake_anthropic import Reply
from jupyter_client.blocking import BlockingKernelClient
from server_harness import displayed, run_in

from jupyter_tutor.sse import iter_event_data


def test_spawned_server_answers_through_the_hub(hub, fake_upstream) -> None:
    # A user of no course group, so the question takes the hub's default course (the
    # session hub's instructors teach every course other tests publish, and would be asked
    # to pick one).
    user = f"chain-{secrets.token_hex(3)}"
    assert hub.api("POST", f"/users/{user}").status_code == 201
    hub.start_server(user)
    try:
        token = hub.token_for(user)
        headers = {"Authorization": f"token {token}"}
        server_url = f"{hub.url}/user/{user}/"
        fake_upstream.script(Reply.text("Through the hub.", chunk_size=4))
        with httpx.stream(
            "POST",
            server_url + "tutor/api/chat",
            json={"message": "Does the whole chain work?"},
            headers=headers,
            timeout=60,
        ) as response:
            assert response.status_code == 200, response.read()
            events = [json.loads(d) for d in iter_event_data(response.iter_lines())]
        assert events[0]["type"] == "conversation" and events[-1]["type"] == "done", events
        assert "".join(e["delta"] for e in events if e["type"] == "text") == "Through the hub."
        request = fake_upstream.requests[-1]
        assert request.credential == fake_upstream.api_key  # the gateway's key, not a token
        listed = httpx.get(server_url + "tutor/api/conversations", headers=headers, timeout=30)
        assert events[0]["conversation_id"] in [c["id"] for c in listed.json()["conversations"]]

        # %tutor in a kernel of the spawned server reaches the chat API by itself.
        session = httpx.post(
            server_url + "api/sessions",
            json={"path": "hub.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
            headers=headers,
            timeout=60,
        )
        session.raise_for_status()
        kernel_id = session.json()["kernel"]["id"]
        [connection] = (hub.data_dir / "users" / user).rglob(f"kernel-{kernel_id}.json")
        client = BlockingKernelClient()
        client.load_connection_file(str(connection))
        client.start_channels(hb=False)
        client.wait_for_ready(timeout=60)
        fake_upstream.script(Reply.text("From the kernel."))
        shown = displayed(client, "%tutor Can a kernel ask?")
        _, url = run_in(client, "import os; print(os.environ['JUPYTER_TUTOR_URL'])")
        client.stop_channels()
        assert "From the kernel." in shown
        assert url.strip().endswith(f"/user/{user}/tutor/api/")
    finally:
        hub.stop_server(user)
