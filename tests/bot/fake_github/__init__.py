"""A GitHub REST API test double: a real HTTP server on loopback, checked against GitHub's OpenAPI description.

    with FakeGitHub(strict=True) as fake:
        fake.add_repo("octo", "demo")
        fake.add_token("t0k3n")
        fake.add_pull("octo", "demo", 1, base_files={...}, head_files={...})
        gh = github.Github(auth=github.Auth.Token("t0k3n"), base_url=fake.url, retry=None)

See ``server.py`` for the request pipeline and the GitHub behaviours it mimics.
"""

from .server import DEFAULT_BOT, SECONDARY_RATE_LIMIT, FakeGitHub, HTTPError
from .spec import api as openapi
from .state import RecordedRequest, Symlink

__all__ = ["DEFAULT_BOT", "SECONDARY_RATE_LIMIT", "FakeGitHub", "HTTPError", "RecordedRequest", "Symlink",
           "openapi"]
