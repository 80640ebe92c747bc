"""Outputs: the HTML report, exports (vCard, CSV, JSON) and the local review web app."""
