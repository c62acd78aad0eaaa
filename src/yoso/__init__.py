"""yoso: single-stage DNN/accelerator co-design (You Only Search Once)."""

__version__ = "0.1.0"
