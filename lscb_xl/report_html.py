"""The summary as HTML (email body, ``lscb-xl summary --html``) and as plain text (the email's alternative).

Both render the same context as the Word document, from Jinja templates in ``templates/``. The
HTML environment autoescapes, so user text such as ``<script>`` arrives as text; neither output
re-renders user text, so ``{{ 7*7 }}`` in a cell stays ``{{ 7*7 }}``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from lscb_xl.report_docx import TEMPLATES_DIR, TemplateProblem, chart_alt_text, sector_chart_png

HTML_TEMPLATE = "summary.html.j2"
TEXT_TEMPLATE = "summary.txt.j2"


def _env(autoescape: bool, folder: Path = TEMPLATES_DIR) -> Environment:
    return Environment(loader=FileSystemLoader(str(folder)), autoescape=autoescape, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=not autoescape, keep_trailing_newline=True)


def _render(env: Environment, name: str, values: Mapping[str, Any]) -> str:
    """Render one template; Jinja errors become one line naming the template and line."""
    try:
        return env.get_template(name).render(**values)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        raise TemplateProblem(f"template {name}: {where}{exc.message or type(exc).__name__}") from None


def render_html(context: Mapping[str, Any], chart: bool = False) -> str:
    """The HTML summary; ``chart`` embeds the sector chart as a data: image (for files, not email).

    Email clients often block data: images, and the sector table beside it carries the same
    figures, so the email body leaves the chart to the attached Word document.
    """
    values: dict[str, Any] = dict(context)
    values["chart_src"] = ""
    values["chart_alt"] = chart_alt_text(context)
    if chart:
        values["chart_src"] = "data:image/png;base64," + base64.b64encode(sector_chart_png(context)).decode()
    return _render(_env(autoescape=True), HTML_TEMPLATE, values)


def render_text(context: Mapping[str, Any]) -> str:
    """The plain-text alternative: the same figures, readable in any mail client."""
    return _render(_env(autoescape=False), TEXT_TEMPLATE, context)
