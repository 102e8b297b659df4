"""Routing and resilience: a public model's deployments, the strategy choosing among them,
retries with backoff, fallbacks to other models and a circuit breaker per deployment.

All of it is in memory (breaker state in the store the config names: this worker's memory,
a file shared by the node's workers, or a plugin's store such as Redis); nothing on the
request path writes to a database.
"""
