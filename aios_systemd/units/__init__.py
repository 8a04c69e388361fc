"""Systemd user units for the reviewed jobs: rendering, ownership stamps, path safety,
and (in sibling modules) the manager adapter, drift report and install plans."""
