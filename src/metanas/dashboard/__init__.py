"""Seeing a search: a read-only web dashboard, self-contained HTML reports, PNG plots,
architecture drawings and per-decision importances.

``metanas dashboard --storage URL`` serves :func:`create_app` (FastAPI; plotly.js from the
installed plotly package, no CDN); ``metanas report`` calls :func:`write_report`;
``metanas studies plot`` calls :func:`plot_study`. FastAPI, uvicorn and plotly are the
``dashboard`` extra (``pip install "metanas[dashboard]"``), imported only when used.
"""

from __future__ import annotations

from metanas.dashboard._app import create_app, plotly_js_path
from metanas.dashboard._data import StudyView, load_study_view, similarity_matrix
from metanas.dashboard._importance import decision_importances
from metanas.dashboard._report import PLOT_KINDS, plot_study, write_report
from metanas.dashboard._svg import architecture_svg

__all__ = [
    "PLOT_KINDS",
    "StudyView",
    "architecture_svg",
    "create_app",
    "decision_importances",
    "load_study_view",
    "plot_study",
    "plotly_js_path",
    "similarity_matrix",
    "write_report",
]
