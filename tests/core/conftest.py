"""The core suite's fixtures come from the test kit (``plugbay.testing``, a pytest plugin):
``make_client`` (in-process, the default for tests that need no socket), ``make_gateway``
(served on 127.0.0.1: disconnects, streaming timing, slow clients), ``scripted_upstream``,
``event_recorder``, ``fake_adapter``. ``pytester`` runs the kit's own suites as a plugin
author would."""

pytest_plugins = ["pytester"]
