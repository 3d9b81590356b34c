"""Every error the registry raises, in one place.

Names end in ``Error``; all derive from :class:`RegistryError` so that the CLI
can turn any of them into a one-line message and a non-zero exit. Messages say
what was observed and what was expected, and name the record and field.
"""

from __future__ import annotations

from collections.abc import Iterable


class RegistryError(Exception):
    """Base class of every error raised by the registry library."""


class ConfigError(RegistryError):
    """A setting, path or environment variable is missing or wrong."""


class SchemaError(RegistryError):
    """The database is not a registry, or its schema version is unknown."""


class NotFoundError(RegistryError):
    """A record that was asked for does not exist."""


class ValidationError(RegistryError):
    """One record failed validation.

    ``record`` names the record (e.g. ``enterprise 91320500MA1XXXXX0X``),
    ``field`` the field; ``location`` (e.g. ``file.csv:12:uscc``) is set by
    importers. ``str()`` gives the full one-line message.
    """

    def __init__(self, message: str, *, record: str | None = None, field: str | None = None,
                 location: str | None = None) -> None:
        self.message = message
        self.record = record
        self.field = field
        self.location = location
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.location:
            return f"{self.location}: {self.message}"
        parts = []
        if self.record:
            parts.append(self.record)
        if self.field:
            parts.append(f"field {self.field}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class InvalidValueError(RegistryError):
    """A value failed one of :mod:`registry.store.validation`'s field checks; the
    caller, who knows the record and the field, raises it as a :class:`ValidationError`."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationErrors(RegistryError):
    """Several records failed validation; nothing was written.

    ``errors`` holds every :class:`ValidationError`, in input order.
    """

    def __init__(self, errors: Iterable[ValidationError]) -> None:
        self.errors = list(errors)
        head = f"{len(self.errors)} error(s); nothing was written"
        super().__init__(head + "\n" + "\n".join(str(e) for e in self.errors))


class DuplicateError(ValidationError):
    """A record with the same identifying number already exists."""


class LifecycleError(RegistryError):
    """A status change that the certificate lifecycle forbids."""


class KeyStoreError(RegistryError):
    """A private key file is missing, unreadable or the passphrase is wrong."""


class NoSigningKeyError(KeyStoreError):
    """A body has no active, endorsed key valid on the date it must sign."""


class CanonicalEncodingError(RegistryError):
    """A value cannot be encoded canonically (float, non-NFC text, ...)."""


class SignatureError(RegistryError):
    """A signature does not verify, or is signed by the wrong key."""


class PayloadError(RegistryError):
    """A mark payload is malformed (bad digits, length, version)."""


class VerificationError(RegistryError):
    """Verification of a mark or a published file failed.

    ``verdict`` is one of the verifier's verdict names.
    """

    def __init__(self, verdict: str, reason: str) -> None:
        self.verdict = verdict
        self.reason = reason
        super().__init__(f"{verdict}: {reason}")


class SourceError(RegistryError):
    """A published file could not be had from its source (a site, a directory, files in memory)."""


class SourceMissingError(SourceError):
    """The published file does not exist (HTTP 404/410, no such file)."""


class SourceUnavailableError(SourceError):
    """The published file could not be fetched or read (network, timeout, I/O, not UTF-8)."""


class ImportFileError(RegistryError):
    """An import file cannot be read at all (encoding, format, header)."""


class BuildError(RegistryError):
    """Publishing stopped; the previous output is left in place."""


class HeaderPolicyError(BuildError):
    """A published file that no rule of the header policy classifies
    (``registry/publish/headers.py``), or a path its generators cannot write."""


class PreviousBuildError(BuildError):
    """A file of the previous build, which an incremental build carries forward,
    is not what a build writes: nothing of it is carried forward (a full build
    writes every file from the registry)."""


class DeployError(RegistryError):
    """A deployment (``publish.py deploy``) stopped; what was live stays live."""


class SourceMovedError(BuildError):
    """The registry file read by a second connection is not at the state the
    build pinned (an operator committed meanwhile): what was read from it is
    discarded and read again from a copy of the pinned state."""


class StatusCacheError(BuildError):
    """A cached certificate status disagrees with the replay of its signed events
    (a status changed without a signed event): nothing may be published."""


class ProofError(RegistryError):
    """A Merkle inclusion or consistency proof does not verify, or cannot be built."""


class TileError(RegistryError):
    """A transparency-log tile or entry bundle is missing, malformed or inconsistent."""


class NoteError(RegistryError):
    """A signed note, verifier key or signature is malformed or does not verify."""


class CheckpointError(NoteError):
    """A checkpoint body (origin, size, root hash) is malformed."""


class LogForkError(ProofError):
    """Publishing would sign a log tree that does not extend the last signed one
    (an event was altered, removed or reordered, or the database was rolled back)."""


class FreshnessError(NoteError):
    """A checkpoint has no timestamped cosignature, or it is too old or in the future."""


class AuditError(RegistryError):
    """``szzz audit`` found at least one discrepancy in the published files."""
