"""Reports: the surgeon's and the patient's report of one run, in HTML and PDF."""

from spinefuse.report.render import render_reports, write_reports

__all__ = ["render_reports", "write_reports"]
