"""plugboard-redis: Redis backends for plugboard-ratelimit and plugboard-cache.

It adds no hooks of its own: the policy plugins find its stores through their backend
entry-point groups when ``backend = "redis"`` (see ``ratelimit.py`` and ``cache.py``).
Registering it as a plugin lists it in ``plugboard plugins``.
"""
