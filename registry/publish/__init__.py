"""Every writer of the published portal: ``site/`` and ``data/``, and the build that makes them.

One build (:mod:`~registry.publish.build`) reads one snapshot of the registry
and writes, into a new build directory switched in atomically
(:mod:`~registry.publish.output`): the public database and downloads
(:mod:`~registry.publish.export`, :mod:`~registry.publish.opendata`; an
incremental build's: :mod:`~registry.publish.dbdelta`, over
:mod:`~registry.publish.dbrows`, which :mod:`~registry.publish.livedb`
uses for Datasette's live copy too), the
verification files (:mod:`~registry.publish.api`), the change feed
(:mod:`~registry.publish.changefeed`), the transparency log
(:mod:`~registry.publish.log`), the verify page
(:mod:`~registry.publish.webverifier`) and the site search index
(:mod:`~registry.publish.sitesearch`); the site's pages are the Pelican
plugin's. :mod:`~registry.publish.site` holds the site's URL and log names;
:mod:`~registry.publish.dbsource` lets ``szzz verify --db`` read the registry
as a published site.
"""
