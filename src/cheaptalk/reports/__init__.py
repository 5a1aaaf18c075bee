"""Reports: a self-contained HTML page with the figures a results section needs."""

from .html import render_report, write_report

__all__ = ["write_report", "render_report"]
