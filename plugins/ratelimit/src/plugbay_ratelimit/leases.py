"""Leases: what each process holds on the keys' records, so that what it holds dies with it.

A request admitted with a :class:`~.window.Hold` takes a *lease* in its process's part of the
buffer: the key record it counts on, its slot, its reservation. Ending the request ends the
lease; its real cost moves to the process's *unrecorded spend* lease for that key until the
registry recorded the request. The records keep the totals (so a decision reads three
numbers, never the leases); the leases say who holds what.

Each process that may hold leases claims a *holder* entry first; only it writes its part of
the lease table, so allocation needs no search. When a holder is found dead (the file store
asks the kernel: see ``stores.py``), :meth:`Ledger.reclaim` subtracts each of its leases from
the records and frees its entry -- its slots and money are usable again at once.
"""

from __future__ import annotations

import array
from collections.abc import Sequence

from plugbay_ratelimit.layout import (
    FREE,
    HELD,
    HOLDER,
    INFLIGHT,
    LEASE,
    RESERVED,
    UNRECORDED,
    UNRECORDED_SPEND,
)

__all__ = ["Ledger", "Receipt"]

_EMPTY = memoryview(array.array("q", bytes(LEASE * 8)))

Receipt = tuple[int, int, int]
"""What :meth:`Ledger.close` returns for a cost it counts as unrecorded: (lease, record,
nanos), given back to :meth:`Ledger.recorded` once the registry has it."""


class Ledger:
    """The holders and leases of one buffer, seen from one holder (``holder``, -1: none)."""

    def __init__(self, q: memoryview, base: int, holders: int, leases: int) -> None:
        self.q = q
        self.holders = holders
        self.leases = leases
        self.holder_base = base
        self.lease_base = base + holders * HOLDER
        self.holder = -1
        self._free: list[int] = []
        self._next = 0
        self._spend: dict[int, int] = {}  # record -> our unrecorded-spend lease on it

    @staticmethod
    def size(holders: int, leases: int) -> int:
        return (holders * HOLDER + holders * leases * LEASE) * 8 if leases else 0

    # --- holders -------------------------------------------------------------------------------

    def taken(self, holder: int) -> bool:
        return self.q[self.holder_base + holder * HOLDER] != 0

    def pid(self, holder: int) -> int:
        return self.q[self.holder_base + holder * HOLDER + 1]

    def claim(self, holder: int, pid: int, now_ms: int) -> int:
        """Become ``holder`` (the caller made sure nobody alive is); return the leases of a
        dead predecessor that were reclaimed."""
        reclaimed = self.reclaim(holder) if self.taken(holder) else 0
        q, at = self.q, self.holder_base + holder * HOLDER
        q[at], q[at + 1], q[at + 2], q[at + 3] = 1, pid, now_ms, 0
        self.holder, self._free, self._next, self._spend = holder, [], 0, {}
        return reclaimed

    def retire(self) -> int:
        """Give back everything this holder holds, and the holder entry."""
        if self.holder < 0:
            return 0
        count = self.reclaim(self.holder)
        self.holder = -1
        return count

    def reclaim(self, holder: int) -> int:
        """End every lease of ``holder`` and free its entry; return how many it held."""
        q, at = self.q, self.holder_base + holder * HOLDER
        used = q[at + 3]
        count = 0
        start = self.lease_base + holder * self.leases * LEASE
        for entry in range(start, start + used * LEASE, LEASE):
            if q[entry] != FREE:
                self._undo(entry)
                count += 1
        q[at], q[at + 1], q[at + 2], q[at + 3] = 0, 0, 0, 0
        return count

    def _undo(self, entry: int) -> None:
        q = self.q
        off = q[entry + 1]
        if q[off] == q[entry + 2] and q[off + 1] == q[entry + 3]:  # still that key's record
            amount = q[entry + 5]
            if q[entry] == HELD:
                if q[entry + 4]:
                    q[off + INFLIGHT] = max(0, q[off + INFLIGHT] - 1)
                q[off + RESERVED] = max(0, q[off + RESERVED] - amount)
            else:
                q[off + UNRECORDED] = max(0, q[off + UNRECORDED] - amount)
        q[entry : entry + LEASE] = _EMPTY

    # --- this holder's leases ------------------------------------------------------------------

    def room(self) -> bool:
        return self.holder >= 0 and (bool(self._free) or self._next < self.leases)

    def _take(self) -> int:
        if self._free:
            return self._free.pop()
        index = self._next
        self._next += 1
        self.q[self.holder_base + self.holder * HOLDER + 3] = self._next
        return self.lease_base + (self.holder * self.leases + index) * LEASE

    def open(self, off: int, slot: bool, cost: int) -> int:
        """A lease on record ``off`` (check :meth:`room` first): a slot and ``cost`` nanos."""
        q = self.q
        entry = self._take()
        q[entry], q[entry + 1], q[entry + 2], q[entry + 3] = HELD, off, q[off], q[off + 1]
        q[entry + 4], q[entry + 5] = int(slot), cost
        if slot:
            q[off + INFLIGHT] += 1
        q[off + RESERVED] += cost
        return entry

    def close(self, entry: int, cost: int) -> Receipt | None:
        """End a lease; count ``cost`` nanos as unrecorded spend on its key (receipt)."""
        q = self.q
        if q[entry] != HELD:
            return None  # reclaimed (its holder was taken for dead)
        off, d0, d1 = q[entry + 1], q[entry + 2], q[entry + 3]
        self._undo(entry)
        self._free.append(entry)
        if cost <= 0 or q[off] != d0 or q[off + 1] != d1:
            return None
        spend = self._spend.get(off)
        if spend is None or q[spend] != UNRECORDED_SPEND or q[spend + 1] != off:
            spend = self._take()  # there is room: one was just freed
            q[spend], q[spend + 1], q[spend + 2], q[spend + 3] = UNRECORDED_SPEND, off, d0, d1
            q[spend + 4], q[spend + 5] = 0, 0
            self._spend[off] = spend
        q[spend + 5] += cost
        q[off + UNRECORDED] += cost
        return (spend, off, cost)

    def recorded(self, receipts: Sequence[Receipt]) -> None:
        """These costs are in the registry now: they stop counting as unrecorded."""
        q = self.q
        for spend, off, cost in receipts:
            if q[spend] != UNRECORDED_SPEND or q[spend + 1] != off:
                continue
            take = min(cost, q[spend + 5])
            q[spend + 5] -= take
            if q[off] == q[spend + 2] and q[off + 1] == q[spend + 3]:
                q[off + UNRECORDED] = max(0, q[off + UNRECORDED] - take)
            if q[spend + 5] <= 0:
                q[spend : spend + LEASE] = _EMPTY
                self._free.append(spend)
                self._spend.pop(off, None)
