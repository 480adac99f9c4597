"""A fake LTI 1.3 platform (an LMS such as Canvas or Moodle), as the hub sees one.

It has its own RSA key pair and serves its JSON Web Key Set over HTTP on 127.0.0.1, and
an authorization endpoint that answers the hub's OIDC authentication request the way a
platform does: an HTML form that posts a signed ``id_token`` (with the hub's nonce, the
course context and the user's roles) and the hub's ``state`` back to the hub's redirect
URI.  Tests drive a launch as a browser would: the platform starts the third-party login
at the hub, follows the hub's redirect to the platform, then posts the form to the hub.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

LTI = "https://purl.imsglobal.org/spec/lti/claim"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LEARNER = f"{MEMBERSHIP}#Learner"
INSTRUCTOR = f"{MEMBERSHIP}#Instructor"
ISSUER = "https://lms.example.test"
CLIENT_ID = "tutor-client-1"
DEPLOYMENT_ID = "deployment-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Launch:
    """Who launches from which course; ``tamper`` changes the signed claims (attacks)."""

    sub: str
    label: str
    roles: list[str]
    context_id: str = ""
    tamper: dict[str, Any] = field(default_factory=dict)
    signing_key: rsa.RSAPrivateKey | None = None  # another key: a forged token
    #: Claims changed in the payload after signing (a captured token edited, say to
    #: another course's context), the signature left as the platform made it.
    edit_after_signing: dict[str, Any] = field(default_factory=dict)


class FakeLTIPlatform:
    """The platform: ``url`` serves ``/jwks`` and ``/authorize``."""

    def __init__(self) -> None:
        self.key = new_key()
        self.kid = secrets.token_hex(4)
        self._launches: dict[str, Launch] = {}
        self.issued: list[str] = []  # every id_token signed, for replay attacks
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/jwks":
                    body, kind = json.dumps(platform.jwks()), "application/json"
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    body, kind = platform.authorize(query), "text/html"
                else:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [public | {"kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def id_token(self, launch: Launch, nonce: str, target: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": launch.sub,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            f"{LTI}/message_type": "LtiResourceLinkRequest",
            f"{LTI}/version": "1.3.0",
            f"{LTI}/deployment_id": DEPLOYMENT_ID,
            f"{LTI}/target_link_uri": target,
            f"{LTI}/resource_link": {"id": "link-1"},
            f"{LTI}/roles": launch.roles,
            f"{LTI}/context": {
                "id": launch.context_id or launch.label,
                "label": launch.label,
                "title": launch.label,
            },
        } | launch.tamper
        key = launch.signing_key or self.key
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        if launch.edit_after_signing:
            header, _, signature = token.split(".")
            payload = json.dumps(claims | launch.edit_after_signing).encode()
            token = f"{header}.{base64url(payload)}.{signature}"
        self.issued.append(token)
        return token

    def authorize(self, query: dict[str, str]) -> str:
        """The platform's answer to the hub's authentication request: the form a browser
        posts to the hub (the platform checks what a real one would first)."""
        launch = self._launches.pop(query.get("login_hint", ""), None)
        if (
            launch is None
            or query.get("client_id") != CLIENT_ID
            or query.get("response_type") != "id_token"
            or query.get("response_mode") != "form_post"
        ):
            return "<p>invalid authentication request</p>"
        token = self.id_token(launch, query["nonce"], query["redirect_uri"])
        fields = {"id_token": token, "state": query["state"]}
        inputs = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items()
        )
        return f'<form method="post" action="{html.escape(query["redirect_uri"])}">{inputs}</form>'

    def launch(self, hub_url: str, launch: Launch) -> httpx.Response:
        """A whole launch in a fresh browser; returns the hub's answer to the form post."""
        with httpx.Client(follow_redirects=False, timeout=30) as browser:
            action, fields = self._login(browser, hub_url, launch)
            return browser.post(action, data=fields)

    def replay(self, hub_url: str, launch: Launch) -> tuple[httpx.Response, httpx.Response]:
        """The same form posted twice with the same cookies (a captured launch)."""
        with httpx.Client(follow_redirects=False, timeout=30) as browser:
            action, fields = self._login(browser, hub_url, launch)
            cookies = dict(browser.cookies)
            first = browser.post(action, data=fields)
        with httpx.Client(follow_redirects=False, timeout=30, cookies=cookies) as attacker:
            second = attacker.post(action, data=fields)
        return first, second

    def _login(
        self, browser: httpx.Client, hub_url: str, launch: Launch
    ) -> tuple[str, dict[str, str]]:
        """The OIDC login the platform starts at the hub, up to its auto-posting form (the
        form's action and fields, with the signed id_token)."""
        hint = secrets.token_hex(8)
        self._launches[hint] = launch
        start = browser.post(
            f"{hub_url}/hub/lti13/oauth_login",
            data={
                "iss": ISSUER,
                "login_hint": hint,
                "target_link_uri": f"{hub_url}/hub/",
                "client_id": CLIENT_ID,
                "lti_deployment_id": DEPLOYMENT_ID,
            },
        )
        assert start.status_code == 302, start.text
        return parse_form(browser.get(start.headers["location"]).text)


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the platform's auto-posting form."""
    action = re.search(r'action="([^"]+)"', page)
    assert action, page
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}
