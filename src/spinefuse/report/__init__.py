"""Reports: the surgeon's and the patient's report of one run, in HTML and PDF."""

from spinefuse.report.render import render_reports, report_command, write_reports
from spinefuse.report.stage_records import ReportInputError, StageRecords, load_stage_records

__all__ = [
    "ReportInputError",
    "StageRecords",
    "load_stage_records",
    "render_reports",
    "report_command",
    "write_reports",
]
