"""szzz_registry: the Pelican generator plugin that publishes the 苏州制造 registry.

See ``generator.py`` and ``docs/site.md``.
"""

from szzz_registry.generator import register

__all__ = ["register"]
