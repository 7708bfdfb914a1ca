"""Framework integrations: LTI routes for Flask, Starlette (FastAPI) and Django.

Each integration is a thin translation of one framework-neutral module: the
login, launch, key set, deep-linking return and registration views, their error
pages and their cookie and frame headers are written once. Install the extra of
your framework and import its module; importing one never imports another
framework::

    pip install "credlti[flask]"       # credlti.contrib.flask
    pip install "credlti[starlette]"   # credlti.contrib.starlette (FastAPI too)
    pip install "credlti[django]"      # credlti.contrib.django

See ``docs/frameworks.md``.
"""

__all__: list[str] = []
