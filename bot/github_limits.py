"""GitHub's endpoints and limits that several parts of the bot respect, in one place.

A module of constants with no imports, so that the settings (``bot.serve``, loaded by ``kubeguard serve``
and ``kubeguard jobs`` without PyGithub) and the client (``bot.github_client``) read the same values.
"""

DEFAULT_API_URL = "https://api.github.com"
# GitHub's secondary limit is 900 points a minute per installation (a GET is 1): room for the rest
DEFAULT_READS_PER_MINUTE = 800
# file reads in flight per review; GitHub asks for few concurrent requests and allows at most 100
DEFAULT_READ_CONCURRENCY, MAX_READ_CONCURRENCY = 8, 100
