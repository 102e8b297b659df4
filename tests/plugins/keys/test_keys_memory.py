"""The keys plugin answers from memory: the registry API is read at start and on a change,
never while authenticating."""

from __future__ import annotations

import asyncio
import types

import pytest

from plugbay import KEY_PREFIX, AuthenticationError, KeyRecord, hash_key
from plugbay._registry import Store
from plugbay_keys.authenticator import KeyAuthenticator


class NoReads:
    """Stands in for the registry's reading connection: any query fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the registry was read while authenticating ({name})")


def record(key_id: str, raw: str) -> KeyRecord:
    return KeyRecord(id=key_id, name=key_id, hash=hash_key(raw), hint="pb-...", scopes=["chat"])


def test_authenticating_reads_nothing_and_changes_arrive_through_the_registry(tmp_path):
    first, second = KEY_PREFIX + "a" * 43, KEY_PREFIX + "b" * 43

    async def main() -> None:
        store = await Store(tmp_path / "r.db").open()
        gateway = types.SimpleNamespace(registry=store)
        try:
            await store.keys.add(record("k1", first))
            auth = KeyAuthenticator()
            await auth.start(gateway)
            reader, store._db = store._db, NoReads()
            try:
                for _ in range(1000):
                    principal = await auth.authenticate(first, {})
                    assert principal is not None
                    assert principal.key_id == "k1"
                assert await auth.authenticate(second, {}) is None  # unknown: not looked up
                assert await auth.authenticate("sk-other", {}) is None
            finally:
                store._db = reader
            await store.keys.add(record("k2", second))
            await store.keys.revoke("k1")
            await auth.registry_changed(gateway)
            assert (await auth.authenticate(second, {})).key_id == "k2"
            with pytest.raises(AuthenticationError, match="revoked"):
                await auth.authenticate(first, {})
        finally:
            await store.close()

    asyncio.run(main())
