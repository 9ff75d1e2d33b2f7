"""Downloading a posted file from its platform: only from the platform's own hosts, with
the platform's auth, within a size cap. The core's timeout bounds the whole download.

aiohttp (already the platforms' libraries' HTTP client) does the HTTP; what is by hand is
the policy around it: the origin allow-list, redirects followed only within it (so the
token never travels to another host), and the cap enforced while reading, not just from
Content-Length, which a server may leave out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urljoin, urlsplit

import aiohttp

from core.files.fetch import FetchError, TooLarge

__all__ = ["HostFetcher", "origin"]

CHUNK = 64 * 1024
MAX_REDIRECTS = 3


def origin(url: str) -> str:
    """scheme://host[:port], lower-cased: what the allow-list compares."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class HostFetcher:
    """A core `Fetcher` for one platform (call it with a URL and a byte cap)."""

    def __init__(
        self,
        origins: Iterable[str],
        headers: Mapping[str, str] | None = None,
        *,
        what: str = "the platform",
    ) -> None:
        self.origins = {origin(o) for o in origins}
        self.headers = dict(headers or {})
        self.what = what
        self.fetched: list[str] = []  # URLs downloaded, newest last (for tests and logs)

    def allowed(self, url: str) -> bool:
        return origin(url) in self.origins

    async def __call__(self, url: str, max_bytes: int) -> bytes:
        async with aiohttp.ClientSession() as http:
            for _ in range(MAX_REDIRECTS + 1):
                if not self.allowed(url):
                    raise FetchError(f"it is not stored on {self.what}'s own servers")
                async with http.get(url, headers=self.headers, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = urljoin(url, resp.headers["Location"])
                        continue
                    self.check(resp)
                    data = await _read_capped(resp, max_bytes)
                    self.fetched.append(url)
                    return data
        raise FetchError(f"{self.what} redirected the download too many times")

    def check(self, resp: aiohttp.ClientResponse) -> None:
        """Refuse an answer that is not the file (subclasses add platform rules)."""
        if resp.status in (401, 403):
            raise FetchError(f"{self.what} refused the download (HTTP {resp.status})")
        if resp.status != 200:
            raise FetchError(f"{self.what} answered HTTP {resp.status}")


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise TooLarge()
    data = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise TooLarge()
    return bytes(data)
