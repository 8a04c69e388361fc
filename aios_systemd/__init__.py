"""aios-systemd: the scheduler layer of AI OS on systemd user timers."""

__version__ = "0.1.0"
