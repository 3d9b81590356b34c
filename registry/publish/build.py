"""One build: the registry turned into the deployable portal, atomically, from one snapshot.

:func:`build` writes ``OUT/site/`` (the site, ``api/``, ``v/``, ``marks/``,
``downloads/``, ``log/``) and ``OUT/data/`` (the public database and its
Datasette metadata) into a new build directory and switches ``OUT`` to it
only when every step passed (:class:`~registry.publish.output.Output`). The
steps and their order are in ``docs/publishing.md``; what they share:

* **one truth** — the registry is read once, as one committed state
  (:func:`registry.store.schema.snapshot_to` into the unpublished build
  directory), and every step reads that copy; every published status is the
  replay of the signed events, and a cached status that disagrees stops the
  build before anything is signed;
* **validated** — :func:`registry.store.integrity.verify_registry` runs in its
  own process while the public database and the site are written, and its
  result is awaited before any signing step; a registry with a problem stops
  the build with the validation error, whatever else failed meanwhile;
* **reproducible** — no wall clock: the build time is
  :func:`registry.core.clock.build_time` of the latest event
  (``SOURCE_DATE_EPOCH`` when set), so one registry gives byte-identical trees.

The site generator is the caller's (``publish.py`` runs Pelican): it is
passed in as ``render_site``, as the verifier's assets are, so this package
never imports Pelican nor guesses where the checkout is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

from registry.core import clock, keys, parallel
from registry.core.exceptions import BuildError, ConfigError, SourceMovedError
from registry.marks import cache as mark_cache
from registry.marks import render
from registry.publish import (
    api,
    changefeed,
    dbdelta,
    downloads,
    export,
    incremental,
    log,
    opendata,
    site,
    webverifier,
)
from registry.publish.output import Output
from registry.store import history, integrity, queries, schema, trust

#: No Datasette unless one is configured (``--datasette-url``): pages then link to none.
DEFAULT_DATASETTE_URL = ""
MAX_PROBLEMS_SHOWN = 20
# The build's copy of the registry (schema.snapshot_to), removed before the switch.
REGISTRY_SNAPSHOT = ".registry-snapshot.db"
# What no build takes from a spare, so a full build's copy of itself (its
# spare) leaves it out: the public database, the downloads and their index,
# the log, and the status buckets (files a build rewrites in place, which a
# hard link would forbid: :func:`registry.core.fs.rewrite`).
SPARE_LEAVES_OUT = ("data", downloads.INDEX_DIR, "site/downloads", "site/log", "site/api/status")


def validate_snapshot(db_path: str, since=None) -> list:
    """:func:`integrity.verify_registry` of the snapshot ``db_path`` (in a pool worker: one
    process); ``since`` (an incremental build): what changed since the previous build."""
    db = schema.connect(db_path, readonly=True)
    try:
        return integrity.verify_registry(db, workers=1, check_file=False, since=since)  # build() checked the file
    finally:
        db.conn.close()


def raise_problems(problems) -> None:
    """Stop the build naming the registry's problems (BuildError), if any."""
    if problems:
        # The first line is whole on its own: the command line shows only it
        # (one line ``Error: …``, docs/cli.md); the list below is for callers.
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise BuildError(f"the registry failed validation: {problems[0]} ({len(problems)} problem(s) "
                         f"in all, szzz check lists them); nothing was published\n  {shown}"
                         + (f"\n  … and {more} more" if more > 0 else ""))


def kind_of(summary) -> str:
    """How a build went, for its one line: "full" or "incremental, N certificate(s) changed"."""
    if summary["incremental"]:
        return f"incremental, {summary['changed']} certificate(s) changed"
    return "full"


def build(db_path, out, *, render_site, assets: webverifier.VerifierAssets, keys_dir=None,
          passphrase=None, site_url=None, datasette_url=DEFAULT_DATASETTE_URL, progress=None,
          code_digest=None, full=False) -> dict:
    """Build the portal of registry ``db_path`` into ``out`` atomically; return a summary.

    ``render_site(site_dir, public_db, *, site_url, datasette_url, build_time, incremental, cache_dir)``
    writes the site's pages from the public database; ``incremental`` (a keyword,
    None for a full build) is :meth:`incremental.Changes.as_settings`: the site
    directory of an earlier build and the records changed since — the spare
    build's, whose pages the generator takes (:meth:`Output.claim_spare`), or
    else the one ``OUT`` points at, whose pages it hard-links.
    ``code_digest`` (:func:`incremental.code_digest` of the code, templates and
    settings; None: never incremental) lets a build on an existing output
    redo only what the new events touch; ``full`` forces a full build. ``passphrase`` unlocks
    the log and timestamp keys in ``keys_dir`` (default ``keys/`` beside the
    registry; passphrase default ``SZZZ_PASSPHRASE``). ``progress(step)`` is
    called before each step (the CLI prints them).
    """
    say = progress or (lambda step: None)
    db_path = Path(db_path)
    if not db_path.is_file():
        raise ConfigError(f"{db_path}: no such registry database")
    keys_dir = Path(keys_dir) if keys_dir else db_path.parent / "keys"
    output = Output(out)
    with output.locked():
        output.clean_stale()
        stack = contextlib.ExitStack()
        build_dir = db = pending_validation = None
        validated = False
        try:
            # One truth: the registry is read exactly once, as one committed
            # state: a read transaction (WAL) pinned before anything is read,
            # and every step below reads that state. A write committed meanwhile
            # is either wholly in this build or wholly absent from it.
            say("snapshot")
            build_dir = output.new_build_dir()
            db = live = schema.connect(db_path, readonly=True)
            stack.callback(live.conn.close)
            schema.pin(live)
            if passphrase is None:
                passphrase = keys.passphrase_from_env()
            url = site.site_url_for(db, site_url)
            # Incremental when the previous build recorded the same inputs
            # (code, templates, settings, options, registry-wide tables):
            # docs/publishing.md, "Incremental builds".
            current = output.current()
            state = incremental.state_of(db, incremental.inputs_digest(
                db, code=code_digest or "", options={"site_url": url, "datasette_url": datasette_url}))
            changes = previous_state = site_changes = spare = spare_changes = None
            if code_digest is not None and not full and current is not None:
                previous_state = incremental.read_state(current)
                changes = incremental.changes_since(db, previous_state, state)
            previous_db = current / "data" / "registry.db" if changes else None
            if changes is None or previous_db is None or not previous_db.is_file():
                # A full build reads a copy of that state (SQLite's online
                # backup through the pinned transaction), so that validation
                # can run in its own process; the copy passes quick_check
                # first: a damaged registry is named as such before any step
                # reads it, never a stray "database disk image is malformed".
                changes = None
                snapshot_path = schema.snapshot_to(db_path, build_dir / REGISTRY_SNAPSHOT, pinned=db)
                db = schema.connect(snapshot_path, readonly=True)
                stack.callback(db.conn.close)
                live.conn.close()
                schema.check_intact(db, name=db_path, consequence="nothing was published")
                statuses = history.replayed_statuses(db)
            else:
                # Incremental: no copy, no whole-file check (szzz checks the
                # file before every write); the statuses are the previous
                # build's (its public database holds the replay of every
                # certificate) and the changed certificates' replay.
                statuses = dbdelta.published_statuses(previous_db)
                statuses.update(history.replayed_statuses(db, changes.certificates))
            # Every published status is the replay of the signed events; a
            # cached status that disagrees stops the build before anything is signed.
            history.check_status_cache(db, statuses)

            say("validate")
            if changes is None:
                validation = stack.enter_context(parallel.pool(1))
                pending_validation = validation.apply_async(validate_snapshot, (str(snapshot_path),))
            else:
                # The events since the previous build and their certificates
                # (the rest passed the previous build's validation): a few
                # signatures, checked here, in the pinned state.
                raise_problems(integrity.verify_registry(
                    db, workers=1, check_file=False, since=(changes.since_seq, changes.certificates)))
                validated = True
            # What an incremental build reuses — Pelican's pages, the
            # certificate files of api/ and the marks — comes from the spare
            # build (the one before the current one: nobody serves it),
            # moved in whole and brought up to date from the changes since
            # *its* state, when it is usable; else from the current build,
            # hard-linked file by file. The status snapshot's unchanged
            # entries are always the current build's api/status.json.
            spare_api = spare_marks = None
            if changes is not None:
                spare_changes = incremental.changes_since(db, incremental.read_state(output.spare), state)
                spare = output.claim_spare(build_dir) if spare_changes is not None else None
                if spare is not None and spare_changes is not None:
                    site_changes = spare_changes.as_settings(spare / "site", take=True)
                    spare_api = spare / "site" / "api" / "certificates"
                    spare_marks = spare / "site" / "marks"
                    if not spare_api.is_dir() or not spare_marks.is_dir():
                        spare_api = spare_marks = None  # not a whole build's: link the current one's
                else:
                    site_changes = changes.as_settings(current / "site")
            # The certificates whose api files and marks this build writes:
            # those changed since the build it takes them from.
            reused = spare_changes if spare_api is not None else changes
            moment = clock.build_time(history.latest_event_date(db))
            build_time = clock.iso_z(moment)
            log_signer = api.load_log_signer(db, keys_dir, passphrase, as_of=moment)
            site_dir, data_dir = build_dir / "site", build_dir / "data"
            site_dir.mkdir()
            data_dir.mkdir()
            # The 4,096 status buckets, re-signed every build (their as_of and
            # log_size are this build's), and an incremental build's status
            # snapshot (the previous one, read and checked, with the changed
            # certificates' entries spliced in) need only the statuses: a
            # worker on the other core signs and writes them while this
            # process writes the public database, the site, the log and the
            # downloads (~2 s at 100k off the build).
            envelope = trust.envelope(db)
            api.check_log_signer(envelope, log_signer, build_time)
            # The spare's status files are rewritten in place (moved aside
            # now: the rest of the spare is discarded after the marks step).
            spare_status = None
            if spare is not None and (spare / "site" / "api" / "status").is_dir():
                spare_status = build_dir / ".spare-status"
                os.rename(spare / "site" / "api" / "status", spare_status)
            # The certificates whose files this build writes, read once: their
            # snapshot entries go to the worker, their files are written below.
            changed_certificates = list(history.iter_certificates(db, reused.certificates)) if reused else None
            status_files = api.StatusFiles(
                site_dir / "api", statuses, log_signer, build_time, state["last_seq"],
                json.loads(envelope["payload"]),
                previous_snapshot=current / "site" / "api" / "status.json" if changes else None,
                entries={cert.cert_no: api.snapshot_entry(cert) for cert in changed_certificates or ()},
                spare_status=spare_status)
            pending_status = stack.enter_context(parallel.pool(1, shared=status_files)).apply_async(
                api.write_shared_status_files)

            # Marks render on a process pool while the public database and
            # the site (one core each, one after the other) are written. Only
            # a valid certificate may carry the mark: only its mark is published.
            demo = schema.get_meta(db, "demo") is not None   # the registry's record of being demo data
            # Incremental: the marks of the certificates changed since the
            # build whose marks are reused (the spare's, taken, or the current one's, linked).
            cached_marks = mark_cache.CachedMarks(
                [render.mark_info(no, programme, "valid", text, url, demo=demo)
                 for no, programme, text in queries.mark_rows(db, reused.certificates if reused else None)
                 if statuses.get(no, ("",))[0] == "valid"],
                output.marks_cache,
                previous=(spare_marks or current / "site" / "marks", set(reused.certificates)) if reused else None,
                take=spare_marks is not None)
            if cached_marks.wants_pool:
                cached_marks.start(stack.enter_context(parallel.pool()))

            say("public database")
            public_db = data_dir / "registry.db"
            rows = None  # the changed public rows (an incremental build): the downloads' too
            if previous_state is not None and previous_db is not None and previous_db.is_file():
                # The previous build's file with the changed rows rewritten
                # (its content equals a full export's: docs/publishing.md).
                rows = dbdelta.changed_rows(db, changes)
                try:
                    exported = dbdelta.update_public_db(db, previous_db, public_db, rows, statuses=statuses,
                                                        pinned=(state["last_seq"], state["row_changes"]))
                except SourceMovedError:
                    # A commit since the pin: the rows are read again from a
                    # copy of the pinned state (SQLite's backup through the
                    # pinned transaction), as a full build reads them.
                    copy = schema.connect(schema.snapshot_to(db_path, build_dir / REGISTRY_SNAPSHOT, pinned=db),
                                          readonly=True)
                    try:
                        exported = dbdelta.update_public_db(copy, previous_db, public_db, rows, statuses=statuses)
                    finally:
                        copy.conn.close()
                incremental.record_public_db(state, previous_state, rows)
            else:
                exported = export.export_public_db(db, public_db, statuses=statuses)
            (data_dir / "metadata.yml").write_text(opendata.metadata_yaml(site_url=url), encoding="utf-8")

            say("pelican")
            render_site(site_dir, public_db, site_url=url, datasette_url=datasette_url, build_time=build_time,
                        incremental=site_changes, cache_dir=output.templates_cache)

            say("validation result")
            if pending_validation is not None:
                raise_problems(pending_validation.get())
            validated = True

            say("verify page")
            # The log's origin is the registry's, known before the log is written.
            log_names = site.log_names_for(db)
            root = api.root_key_file(trust.envelope(db))
            webverifier.install_verifier(site_dir / "v", assets=assets, root_public_key=root["public_key"],
                                         log_origin=log_names.origin, demo=site.is_demo(db))

            say("api")
            # Incremental: only the changed certificates' files are written
            # here; the status buckets (and the snapshot) by the worker.
            api.write_files(site_dir, envelope,
                            history.iter_certificates(db) if changed_certificates is None else changed_certificates,
                            log_signer, as_of=build_time, last_seq=state["last_seq"], statuses=statuses,
                            previous_api=current / "site" / "api" if changes else None,
                            spare_certificates=spare_api, status_written=True)
            feed = changefeed.write_change_feed(
                db, site_dir, as_of=moment,
                previous_dir=current / "site" / "api" / "events" if changes else None)

            say("log")
            # Refuses to sign a tree that does not extend the published one or the state file's.
            # Incremental: the previous log is the prefix; the events this build
            # publishes anew (the histories of the certificates whose pages and
            # files it writes — changed since the spare when it took the spare's —
            # and the feed's rewritten pages) must be its entries (docs/publishing.md).
            log_info = log.publish_log(
                db, site_dir, log_signer, log.load_timestamp_signer(db, keys_dir, passphrase),
                names=log_names, previous_site=current / "site" if current else None,
                state_file=log.state_file_for(output.link),  # cosigned when signed (clock.signing_time)
                incremental=log.Incremental(
                    (spare_changes if spare is not None and spare_changes is not None else changes).certificates,
                    changefeed.first_written_seq(current / "site" / "api" / "events", feed["last_seq"]))
                if changes else None)

            say("marks")
            mark_stats = cached_marks.finish(
                site_dir, marks=sum(1 for status in statuses.values() if status[0] == "valid"))
            if spare is not None:
                # What Pelican, api/ and the marks did not take: deleted in the background.
                output.discard(spare)

            say("downloads")
            previous_index = current / downloads.INDEX_DIR if rows is not None else None
            downloads.write_downloads(
                public_db, site_dir / "downloads", build_dir / downloads.INDEX_DIR, rows=rows,
                previous=(current / "site" / "downloads", previous_index)
                if previous_index is not None and previous_index.is_dir() else None)
            say("status files")
            pending_status.get()
            incremental.write_state(build_dir, state)
        except BaseException:
            # A failed build leaves OUT as it was; its directory is removed now
            # (or, after a kill, by the next build's clean_stale), once the mark
            # pool that writes into it is stopped. A registry that fails
            # validation reports that, not a later symptom.
            problems = []
            if not validated and pending_validation is not None and isinstance(sys.exc_info()[1], Exception):
                with contextlib.suppress(Exception):
                    problems = pending_validation.get()
            stack.close()
            if build_dir is not None:
                shutil.rmtree(build_dir, ignore_errors=True)
            raise_problems(problems)
            raise
        finally:
            stack.close()
            if db is not None:
                db.conn.close()
        # The snapshot holds operator-only data: it never leaves with the build.
        (build_dir / REGISTRY_SNAPSHOT).unlink(missing_ok=True)
        say("switch")
        output.switch(build_dir)
        if changes is None and code_digest is not None:
            # A full build: the build before it (other code, settings or
            # registry-wide tables) cannot serve the next build as its spare;
            # a hard-link copy of this one can (~30 s at 100k, after the
            # switch: the new build is served meanwhile).
            say("spare")
            if current is not None:
                output.discard(current)
            try:
                output.clone_as_spare(build_dir, leave_out=SPARE_LEAVES_OUT)
            except OSError as e:
                output.clean_stale()  # the copy cut short is a stale build directory
                raise BuildError(f"{output.link} now points at the new build, but its spare could not be "
                                 f"made ({e}); the next build clones the served pages instead") from e
        else:
            output.keep_as_spare(current)  # the next build's pages come from it
        output.clean_stale()
    return {"out": str(output.link), "build_dir": str(build_dir), "build_time": build_time,
            "site_url": url, "tables": exported["tables"], "last_seq": feed["last_seq"],
            "log": {k: log_info[k] for k in ("origin", "size", "root", "reused")},
            "incremental": changes is not None, "public_db": "updated" if "changes" in exported else "exported",
            "changed": len(changes.certificates) if changes else None,
            # Where the unchanged pages, certificate files and marks came
            # from: "spare" (taken), "current" (hard-linked).
            "pages_from": ("spare" if spare is not None else "current") if changes else None,
            "api_from": ("spare" if spare_api is not None else "current") if changes else None,
            "marks_from": ("spare" if spare_marks is not None else "current") if changes else None,
            **mark_stats}
