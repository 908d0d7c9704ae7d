"""gplscan: find GPL-mixing in Linux drivers and the objects built from them."""

__version__ = "0.1.0"
__url__ = "https://github.com/gplscan/gplscan"  # [project.urls] Homepage in pyproject.toml
