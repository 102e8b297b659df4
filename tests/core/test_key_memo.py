"""hash_key memoises recently seen keys: the same hashes, in a bounded memo.

Revocation with a memoised key: tests/plugins/keys/test_key_memo.py.
"""

from __future__ import annotations

import hmac

from plugbay import _auth
from plugbay._auth import MEMO_KEY_LENGTH, MEMO_SIZE, forget_keys, hash_key


def reference(key: str) -> str:
    return hmac.new(b"plugbay-api-key-v1", key.encode(), "sha256").hexdigest()


def test_memoised_hashes_are_the_hmac():
    forget_keys()
    key = "pb-" + "k" * 43
    assert hash_key(key) == reference(key)
    assert _auth._memo.cache_info().misses == 1
    assert hash_key(key) == reference(key)  # from the memo
    assert _auth._memo.cache_info().hits == 1
    long = "x" * (MEMO_KEY_LENGTH + 1)
    assert hash_key(long) == reference(long)
    assert _auth._memo.cache_info().currsize == 1  # long tokens are not kept


def test_the_memo_is_bounded_and_keeps_the_recent_keys():
    forget_keys()
    hot = "pb-hot"
    for i in range(MEMO_SIZE * 2):
        hash_key(hot)
        hash_key(f"pb-{i}")
    info = _auth._memo.cache_info()
    assert info.currsize == MEMO_SIZE
    before = info.hits
    hash_key(hot)  # used all along: still there
    assert _auth._memo.cache_info().hits == before + 1
    forget_keys()
    assert _auth._memo.cache_info().currsize == 0
