"""Pictures of selections and dataset runs, as self-contained HTML (no scripts, no network).

Loaded only when a picture is asked for (`Selection.to_html`, ``_repr_html_``, ``--html``), so
the core import stays light. Notebook front ends strip scripts from untrusted output, so the
pages use none: `<details>` for what opens on a click, inline SVG for plots, inline CSS.
"""
