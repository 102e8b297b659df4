"""Bearer tokens for Vertex AI from google-auth (the optional ``vertex`` extra).

google-auth is imported only when a ``vertex`` provider needs it. Its refresh is blocking
I/O, so it runs in a worker thread; the token is cached until shortly before it expires and
refreshed in the background from then on, so requests do not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC
from types import ModuleType
from typing import Any

from plugbay import ConfigError, UpstreamError

__all__ = ["SCOPES", "GoogleCredentials", "import_google_auth"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

log = logging.getLogger("plugbay.gemini.auth")


def import_google_auth() -> ModuleType:
    """``google.auth``, or a :class:`ConfigError` telling how to install it."""
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError as exc:
        raise ConfigError(
            "a `vertex` provider without `api_key` gets its tokens from google-auth, "
            "which is not installed: pip install 'plugbay-gemini[vertex]'"
            f" ({exc})"
        ) from None
    return google.auth


class GoogleCredentials:
    """Access tokens from a service-account file, or application default credentials.

    :param refresh_margin: seconds before expiry from which a background refresh starts.
    :param min_validity: seconds of validity below which a request waits for a new token.
    """

    def __init__(
        self,
        credentials_file: str | None,
        *,
        refresh_margin: float = 300.0,
        min_validity: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import_google_auth()
        self._file = credentials_file
        self._margin = refresh_margin
        self._min_validity = min_validity
        self._clock = clock
        self._credentials: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def expires_at(self) -> float:
        """When the cached token expires (epoch seconds); 0 before the first."""
        return self._expires_at

    @property
    def refreshing(self) -> asyncio.Task[None] | None:
        """The background refresh, while one runs."""
        task = self._background
        return task if task is not None and not task.done() else None

    def _remaining(self) -> float:
        return self._expires_at - self._clock() if self._token is not None else 0.0

    async def token(self) -> str:
        remaining = self._remaining()
        if remaining > self._margin:
            return self._token  # type: ignore[return-value]
        if remaining > self._min_validity:
            if self._background is None or self._background.done():
                self._background = asyncio.create_task(self._refresh_in_background())
            return self._token  # type: ignore[return-value]
        async with self._lock:
            if self._remaining() <= self._min_validity:
                await self._refresh()
        assert self._token is not None
        return self._token

    async def _refresh_in_background(self) -> None:
        try:
            async with self._lock:
                if self._remaining() <= self._margin:
                    await self._refresh()
        except Exception as exc:  # the next request retries, in the foreground if it must
            log.warning("refreshing the Google access token failed: %s", exc)

    async def _refresh(self) -> None:
        try:
            token, expires_at = await asyncio.to_thread(self._fetch)
        except ConfigError:
            raise
        except Exception as exc:
            raise UpstreamError(
                f"Could not get a Google access token ({type(exc).__name__}: {exc}).",
                code="upstream_auth_error",
            ) from exc
        self._token, self._expires_at = token, expires_at

    def _fetch(self) -> tuple[str, float]:
        """Runs in a worker thread: google-auth's refresh is blocking I/O."""
        google_auth = import_google_auth()
        from google.auth.transport.requests import Request

        if self._credentials is None:
            if self._file:
                from google.oauth2 import service_account

                load = service_account.Credentials.from_service_account_file
                self._credentials = load(self._file, scopes=list(SCOPES))  # type: ignore[no-untyped-call]
            else:
                self._credentials, _ = google_auth.default(scopes=list(SCOPES))
        credentials = self._credentials
        credentials.refresh(Request())
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        expires_at = (
            expiry.replace(tzinfo=UTC).timestamp() if expiry is not None else time.time() + 3600
        )
        return str(credentials.token), expires_at

    async def aclose(self) -> None:
        task, self._background = self._background, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
