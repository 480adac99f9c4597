"""The chat API's names, shared by the student's server (which serves it) and the kernel
magics (which call it): where it lives, how a kernel finds and authenticates to it, and
the kinds of question and the votes on answers.  The wire format itself is documented in
docs/chat-api.md.
"""

from __future__ import annotations

#: The chat API's path under the Jupyter server's base URL.
API_PATH = "tutor/api/"

#: Environment the server extension gives every kernel it starts: the chat API's full URL
#: (``…/{base_url}tutor/api/``, reachable from the kernel's machine) and a random
#: per-server secret that the chat API's handlers, and nothing else, accept.
URL_ENV = "JUPYTER_TUTOR_URL"
TOKEN_ENV = "JUPYTER_TUTOR_TOKEN"

#: Request header carrying :data:`TOKEN_ENV`'s value.  A header of its own (not
#: ``Authorization``) so Jupyter's and JupyterHub's authentication never see it.
KERNEL_TOKEN_HEADER = "X-Tutor-Kernel-Token"

#: What a question is about (the context's ``kind``).
KINDS = ("question", "explain", "hint")

#: The votes of ``POST feedback``, which the gateway records as they are: 👍, 👎 and
#: "still stuck" (climbs the hint ladder).
VOTES = ("up", "down", "stuck")

#: Longest comment accepted with a vote (the gateway keeps as much).
MAX_COMMENT_CHARS = 2000
