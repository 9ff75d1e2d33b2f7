"""What a platform failure means for the process: retry it, or stop and say what to fix.

Adapters know their library's errors; they raise `PlatformFatal` for the ones retrying
cannot fix (a rejected token, a disallowed intent) and answer `is_transient` for the
ones worth another try (network errors, 5xx, gateway drops). The wiring in bot/ retries
the transient ones with backoff and turns a fatal one into a non-zero exit.
"""

from __future__ import annotations

__all__ = ["PlatformFatal", "network_error"]


class PlatformFatal(Exception):
    """The platform refused Muse in a way only the operator can fix."""

    def __init__(self, platform: str, cause: str, fix: str) -> None:
        super().__init__(f"{platform}: {cause}. Fix: {fix}")
        self.platform, self.cause, self.fix = platform, cause, fix


def network_error(exc: BaseException) -> bool:
    """Connection refused or reset, DNS, TLS, timeouts: the network, not Muse."""
    import aiohttp  # here: the CLI imports PlatformFatal and must start fast

    return isinstance(exc, OSError | TimeoutError | aiohttp.ClientError)
