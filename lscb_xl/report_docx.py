"""The summary as a Word document, rendered from a template staff can restyle in Word itself.

The template is a real .docx with Jinja tags (docxtpl), so restyling needs no programmer; the
default one is ``templates/summary.docx`` (made by ``templates/make_docx_template.py``).
Rendering autoescapes, so a cell reading ``{{ 7*7 }} <script>`` appears literally. Undefined
tags are errors rather than blanks, so a typo in a custom template is reported (template, line,
tag), not silently printed as nothing. After rendering, the chart gets its alt text and the
document its title and language (en-GB), whatever the template said.
"""

from __future__ import annotations

import copy
import io
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage, RichText
from jinja2 import Environment, StrictUndefined, TemplateError
from lxml import etree

from lscb_xl.summary import ReportError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_TEMPLATE = TEMPLATES_DIR / "summary.docx"
LANGUAGE = "en-GB"
#: File name the chart is inserted under; it becomes pic:cNvPr/@name, which is how we find it again.
CHART_NAME = "lscb-sector-chart.png"
CHART_TITLE = "Chart: training attendees by sector"
_TAG = re.compile(r"{[{%#].*?(?:[}%#]}|$)")


class TemplateProblem(ReportError):
    """The Word template is missing, not a .docx, or has a broken tag."""


# --------------------------------------------------------------------------------------------
# The chart
# --------------------------------------------------------------------------------------------


def chart_alt_text(context: Mapping[str, Any]) -> str:
    """Alt text that carries the chart's data, so a screen reader user loses nothing."""
    training = context["training"]
    parts = ", ".join(f"{r['sector']} {r['percent']}%" for r in training["sectors"])
    return (f"Bar chart of training attendees by sector, as a percentage of the {training['sector_attendees']} "
            f"attendees recorded by sector: {parts}. Percentages by the largest-remainder method.")


def sector_chart_png(context: Mapping[str, Any]) -> bytes:
    """Horizontal bar chart of the sector percentages (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = list(reversed(context["training"]["sectors"]))
    fig = Figure(figsize=(6.3, 3.6), dpi=150)
    ax = fig.add_subplot()
    bars = ax.barh([r["sector"] for r in rows], [r["percent"] for r in rows], color="#1F3A5F")
    ax.bar_label(bars, labels=[f"{r['percent']}%" for r in rows], padding=3, fontsize=8)
    ax.set_xlabel("Percentage of attendees recorded by sector", fontsize=8)
    ax.set_title("Training attendees by sector", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.set_xlim(0, max([r["percent"] for r in rows] + [1]) * 1.18)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _with_rich_text(value: Any) -> Any:
    """Deep copy of the context where each rating dict also carries ``text``: its label in its font colour.

    The plain context stays plain; only the Word renderer needs docxtpl's RichText, because a
    run's colour cannot be set from a tag any other way (white on red, black on green).
    """
    if isinstance(value, Mapping):
        out = {k: _with_rich_text(v) for k, v in value.items()}
        if {"code", "label", "fill", "font"} <= set(value):
            out["text"] = RichText(value["label"], color=value["font"], bold=True)
        return out
    if isinstance(value, list):
        return [_with_rich_text(v) for v in value]
    return copy.copy(value)


def _tag_line(tpl: DocxTemplate, name: str) -> tuple[int, str] | None:
    """(line, tag) of the first tag naming ``name``, numbered as docxtpl hands the XML to Jinja."""
    try:
        src = re.sub(r"<w:p([ >])", r"\n<w:p\1", tpl.patch_xml(tpl.get_xml()))
    except Exception:  # the template is already known to be broken; this only adds detail
        return None
    for number, line in enumerate(src.splitlines(), start=1):
        text = re.sub(r"<[^>]+>", "", line)
        for tag in _TAG.findall(text):
            if re.search(rf"\b{re.escape(name)}\b", tag):
                return number, tag
    return None


def _template_message(name: str, exc: TemplateError, tpl: DocxTemplate) -> str:
    """'template X: line N: <message> (at '{{ tag')': where the Jinja error is, in the user's terms."""
    line = getattr(exc, "lineno", None)
    near = ""
    context = list(getattr(exc, "docx_context", None) or [])
    if line and context:
        first = max(line - 4, 0) + 1  # docxtpl keeps 7 lines starting 3 before the error
        text = context[min(max(line - first, 0), len(context) - 1)].strip()
        tags = _TAG.findall(text) or [text]
        near = tags[-1][:80] if tags and tags[-1] else ""
    missing = re.search(r"'([^']+)' is undefined|has no attribute '([^']+)'", exc.message or "")
    if not line and missing and (found := _tag_line(tpl, missing[1] or missing[2])):
        line, near = found[0], found[1][:80]
    where = f"line {line}: " if line else ""
    return f"template {name}: {where}{exc.message or type(exc).__name__}{f' (at {near!r})' if near else ''}"


def _load_template(template: Path) -> DocxTemplate:
    if not template.is_file():
        raise TemplateProblem(f"template {template} does not exist.")
    if not zipfile.is_zipfile(template):
        raise TemplateProblem(f"template {template.name} is not a Word .docx file.")
    try:
        tpl = DocxTemplate(str(template))
        tpl.init_docx()
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise TemplateProblem(f"template {template.name} is not a Word .docx file ({exc}).") from exc
    return tpl


def render_docx(context: Mapping[str, Any], template: Path | None = None) -> bytes:
    """The summary as .docx bytes; raises TemplateProblem naming the template, line and tag."""
    template = Path(template or DEFAULT_TEMPLATE)
    tpl = _load_template(template)
    env = Environment(autoescape=True, undefined=StrictUndefined)
    with tempfile.TemporaryDirectory(prefix="lscb-chart-") as tmp:
        chart = Path(tmp) / CHART_NAME
        chart.write_bytes(sector_chart_png(context))
        values = _with_rich_text(context)
        values["chart"] = InlineImage(tpl, str(chart), width=Mm(160))
        try:
            tpl.render(values, jinja_env=env, autoescape=True)
        except TemplateError as exc:
            raise TemplateProblem(_template_message(template.name, exc, tpl)) from None
        except etree.XMLSyntaxError as exc:
            raise TemplateProblem(f"template {template.name}: the filled-in document is not valid Word XML; "
                                  f"check that each {{%tr %}} or {{%p %}} tag has its own row or paragraph "
                                  f"({exc}).") from None
        out = io.BytesIO()
        tpl.save(out)
    return finish_docx(out.getvalue(), context)


# --------------------------------------------------------------------------------------------
# Accessibility post-processing
# --------------------------------------------------------------------------------------------


def _set_default_language(doc: Any, lang: str = LANGUAGE) -> None:
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    if defaults is None:
        return
    rpr = defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}")
    if rpr is None:
        return
    found = rpr.find(qn("w:lang"))
    if found is None:
        found = OxmlElement("w:lang")
        rpr.append(found)
    found.set(qn("w:val"), lang)


def set_chart_alt_text(doc: Any, alt: str, title: str = CHART_TITLE) -> int:
    """Put ``alt`` on the chart's wp:docPr (Word's Alt Text box); returns how many pictures got it."""
    done = 0
    for cnvpr in doc.element.body.iter(qn("pic:cNvPr")):
        if cnvpr.get("name") != CHART_NAME:
            continue
        cnvpr.set("descr", alt)
        holder = cnvpr
        while holder is not None and holder.tag not in (qn("wp:inline"), qn("wp:anchor")):
            holder = holder.getparent()
        if holder is not None:
            docpr = holder.find(qn("wp:docPr"))
            docpr.set("descr", alt)
            docpr.set("title", title)
            done += 1
    return done


def finish_docx(docx_bytes: bytes, context: Mapping[str, Any]) -> bytes:
    """Title, language and chart alt text, set after rendering so a restyled template keeps them."""
    doc = Document(io.BytesIO(docx_bytes))
    props = doc.core_properties
    props.title = str(context["title"])
    props.language = LANGUAGE
    props.subject = f"Board summary, reporting period {context['period']['label']}"
    _set_default_language(doc)
    set_chart_alt_text(doc, chart_alt_text(context))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
