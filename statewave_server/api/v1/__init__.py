"""The ``/v1`` API routers."""
