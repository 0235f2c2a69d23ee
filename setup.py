"""Builds the optional C speedup (asgiws/_speedups.c); everything else is in pyproject.toml.

Without a compiler, or with ASGIWS_NO_EXTENSIONS=1, asgiws installs with its pure-Python
fallback, which gives the same results.
"""

import os

from setuptools import Extension, setup

ext_modules = []
if not os.environ.get("ASGIWS_NO_EXTENSIONS"):
    ext_modules.append(
        Extension("asgiws._speedups", sources=["asgiws/_speedups.c"], optional=True)
    )

setup(ext_modules=ext_modules)
