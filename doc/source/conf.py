# Sphinx configuration of roomsync's guide. Built with warnings as errors: tox -e docs.
project = "roomsync"
copyright = "roomsync contributors"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
# Links such as [Rate limits](performance.md#rate-limits) reach the headings of a page.
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = "roomsync"
