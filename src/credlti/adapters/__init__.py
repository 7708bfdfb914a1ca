"""Storage adapters for the ports in :mod:`credlti.ports`.

- :mod:`credlti.adapters.memory`: in-process, thread-safe, no dependencies.
- ``credlti.adapters.sql``: SQLAlchemy Core on SQLite and PostgreSQL (extra ``[sql]``).

Importing :mod:`credlti` never imports an adapter.
"""
