"""The operator commands behind ``credlti`` (package-private; :mod:`credlti.cli` is the entry)."""
