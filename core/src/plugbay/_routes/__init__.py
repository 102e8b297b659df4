"""Thin Litestar handlers; the ``/v1`` completion endpoints hand off to the pipeline."""
