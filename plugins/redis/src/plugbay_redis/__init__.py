"""plugbay-redis: Redis backends for plugbay-ratelimit and plugbay-cache.

It adds no hooks of its own: the policy plugins find its stores through their backend
entry-point groups when ``backend = "redis"`` (see ``ratelimit.py`` and ``cache.py``).
Registering it as a plugin lists it in ``plugbay plugins``.
"""
