"""Pictures of selections and dataset runs, as self-contained HTML (no scripts, no network).

Loaded only when a picture is asked for (`Selection.to_html`, ``_repr_html_``, ``--html``), so
the core import stays light. Notebook front ends strip scripts from untrusted output, so the
pages use none: `<details>` for what opens on a click, inline SVG for plots, inline CSS.

`html` holds what every page shares; `selection` draws a `Selection` from its stages, a
knockout's `bracket` and a round robin's `standings`; `report_page` draws a filter run's report.
"""
