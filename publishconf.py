"""Pelican settings for the deployed portal: pelicanconf.py plus the public URL.

``publish.py build --site-url URL`` overrides ``SZZZ["site_url"]``; links stay
relative (the site works from any host or sub-path) but the sitemap, the
feeds' links and the JSON-LD ``url`` need an absolute base.
"""

import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))

from pelicanconf import *  # noqa: F403 - Pelican's convention: the deploy settings extend the base ones
from pelicanconf import SZZZ as _SZZZ

SZZZ = dict(_SZZZ, site_url=os.environ.get("SZZZ_SITE_URL", "https://szzz.example/"))
