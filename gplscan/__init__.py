"""gplscan: find GPL-mixing in Linux drivers and the objects built from them."""

__version__ = "0.1.0"
