"""The quoting API: a thin HTTP shell over the ``underwriting`` package (no actuarial logic here).

Modules: ``settings`` (configuration), ``store`` (SQLAlchemy storage of keys, quotes and
decisions), ``security`` (API keys and roles), ``problems`` (RFC 9457 errors), ``schemas``
(request and response bodies), ``routes`` (the endpoints), ``main`` (the application factory),
``cli`` (the ``underwriting`` command: serve, keys).
"""
