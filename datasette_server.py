"""datasette_server.py — Datasette on the public database, one process per core.

    python datasette_server.py DATA_DIR --port P [--workers N] [--immutable] [--base-url /datasette/]

Serves ``DATA_DIR/registry.db`` as the database ``registry`` with
``DATA_DIR/metadata.yml`` and the plugin in ``plugins/datasette``, on
127.0.0.1:P, with the settings of ``docs/publishing.md`` ("Datasette"). It is
what ``publish.py serve`` runs (``publish.datasette_command``), given the live
directory (:mod:`registry.publish.livedb`): the database is opened mutable
(WAL, updated in place by each publish) unless ``--immutable``.

Why not ``datasette serve``: one Datasette process renders pages on one core
(the GIL; rendering, not SQL, is most of a table page's time, issue 13), and
``datasette serve`` has no workers option. Here uvicorn's supervisor runs N
worker processes (default: one per core) on one listening socket, each with
its own Datasette, built by :func:`app` from the configuration the
supervisor passes in the environment. SIGTERM or SIGINT stops them all.
"""

import argparse
import json
import os
import socket
from pathlib import Path

import uvicorn
import yaml
from datasette.app import Datasette
from uvicorn.supervisors import Multiprocess

ROOT = Path(__file__).resolve().parent
PLUGINS_DIR = ROOT / "plugins" / "datasette"
# The settings of the public instance: a 1 s SQL time limit, and no suggested
# facets (70–100 ms a request; the useful facets are in the metadata).
SETTINGS = {"sql_time_limit_ms": 1000, "suggest_facets": False}
CONFIG_ENV = "SZZZ_DATASETTE_CONFIG"


def datasette(data_dir, *, immutable=False, base_url="/") -> Datasette:
    """The Datasette instance serving ``data_dir`` (as each worker builds it); ``base_url``
    is the path it is served under behind a proxy (nginx's ``/datasette/``)."""
    data_dir = Path(data_dir)
    database = str(data_dir / "registry.db")
    metadata = yaml.safe_load((data_dir / "metadata.yml").read_text(encoding="utf-8"))
    return Datasette(files=[] if immutable else [database], immutables=[database] if immutable else [],
                     metadata=metadata, plugins_dir=str(PLUGINS_DIR), settings={**SETTINGS, "base_url": base_url},
                     cors=True)


def app():
    """ASGI application factory for uvicorn's workers (configuration in ``SZZZ_DATASETTE_CONFIG``)."""
    config = json.loads(os.environ[CONFIG_ENV])
    return datasette(config["data_dir"], immutable=config["immutable"], base_url=config["base_url"]).app()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path, help="directory holding registry.db and metadata.yml")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--immutable", action="store_true", help="open the database with -i (never changes)")
    parser.add_argument("--base-url", default="/", help="path served under behind a proxy, e.g. /datasette/")
    args = parser.parse_args(argv)
    for name in ("registry.db", "metadata.yml"):
        if not (args.data_dir / name).is_file():
            parser.error(f"{args.data_dir / name}: no such file")
    # Not resolved: DATA_DIR may be a link to the current build (OUT/data),
    # which a publish moves to the next build and then deletes the old one.
    os.environ[CONFIG_ENV] = json.dumps({"data_dir": str(args.data_dir.absolute()),
                                         "immutable": args.immutable, "base_url": args.base_url})
    config = uvicorn.Config("datasette_server:app", factory=True, host=args.host, port=args.port,
                            workers=max(1, args.workers), log_level="warning", lifespan="on")
    if config.workers == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[listening_socket(args.host, args.port)]).run()


def listening_socket(host, port) -> socket.socket:
    """The socket the workers share, made with ``IPPROTO_TCP``.

    uvicorn's own (``Config.bind_socket``) has protocol 0, which its accepted
    connections inherit, so asyncio does not set ``TCP_NODELAY`` on them
    (``base_events._set_nodelay`` checks the protocol) and a response written
    in two pieces waits for the client's delayed ACK: ~40–50 ms a request
    instead of ~2 ms, measured here with two workers.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    main()
