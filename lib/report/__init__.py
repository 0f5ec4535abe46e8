"""The spend report of one tenant and month: what it holds, and its console and HTML renderings.

The parts, and the only arrows allowed between them (import-linter checks them in
``nox -s lint``)::

    lib.commands.run_report          open the runtime, build, print, write the file
        │
        ├──▶ lib.report.text         rich console tables
        └──▶ lib.report.html         the self-contained HTML page (Jinja2 templates/)
                 │
                 ├──▶ lib.report.format   money, percentages, thresholds as text
                 └──▶ lib.report.model    dataclasses and the gold-table queries (no rendering)

Nothing imports upward: the model knows no renderer, the renderers know no command.
"""
