"""``szzz``: the operators' and verifiers' command line, a thin layer over the library.

Every command takes ``--db PATH`` (default ``registry.db``); commands that
sign take ``--keys DIR`` (default ``keys``) and read the key passphrase from
``SZZZ_PASSPHRASE``, else prompt for it on a terminal. ``--json`` prints
machine-readable output (stable shapes: ``docs/cli.md``). One error policy
(:mod:`registry.cli.options`): a library error becomes ``Error: …`` on stderr
and exit status 1, a usage or configuration error exit status 2 — never a
traceback. ``main()`` runs the group (console script ``szzz`` and
``python -m registry``).
"""

import click

from registry.cli import audit, certs, holders, marks, setup, verify
from registry.cli.options import RegistryGroup


@click.group(cls=RegistryGroup)
@click.version_option(package_name="szzz-registry", message="szzz %(version)s")
def cli():
    """szzz — “苏州制造”认证登记库命令行 / the Made in Suzhou certification registry."""


for _module in (setup, holders, certs, marks, verify, audit):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main():
    cli(prog_name="szzz")
