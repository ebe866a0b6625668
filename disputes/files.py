"""Evidence files on disk: type from the bytes, size limit, random names, a private directory.

Files live under `DISPUTES_EVIDENCE_DIR` (default `LOCAL_DIR/evidence`), which no static or
media URL serves; they are read back only through views that check who asks (the API for the
dispute's merchant, the admin for staff who may view disputes).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from core.errors import InvalidRequest

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES_PER_DISPUTE = 20
MAX_NAME_CHARS = 200
# What evidence may be, recognised by its first bytes, never by its name or a client's header.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)
PURPOSES = (
    "customer_communication",
    "receipt",
    "shipping_documentation",
    "refund_policy",
    "cancellation_policy",
    "service_documentation",
    "customer_signature",
    "uncategorized_file",
)


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    extension: str
    size_bytes: int
    sha256: str


def evidence_dir() -> Path:
    return Path(getattr(settings, "DISPUTES_EVIDENCE_DIR", Path(settings.LOCAL_DIR) / "evidence"))


def check(content: bytes) -> CheckedFile:
    """The file's type from its bytes, or a 400 naming what is wrong."""
    if not content:
        raise InvalidRequest("The file is empty.", code="file_empty", param="file")
    if len(content) > MAX_FILE_BYTES:
        raise InvalidRequest(
            f"A file can be at most {MAX_FILE_BYTES // (1024 * 1024)} MB.",
            code="file_too_large",
            param="file",
        )
    for magic, content_type, extension in _SIGNATURES:
        if content.startswith(magic):
            return CheckedFile(
                content_type=content_type,
                extension=extension,
                size_bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
    raise InvalidRequest(
        "Evidence files must be PDF, PNG or JPEG.", code="file_type_unsupported", param="file"
    )


def store(content: bytes, checked: CheckedFile) -> str:
    """Write the bytes under a random name; returns the name."""
    directory = evidence_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{secrets.token_hex(16)}.{checked.extension}"
    path = directory / name
    with path.open("xb") as handle:  # never overwrite
        handle.write(content)
    path.chmod(0o600)
    return name


def read(stored_name: str) -> bytes:
    # The name is ours (random hex and an extension), never a client's: no path to escape.
    return (evidence_dir() / Path(stored_name).name).read_bytes()


def remove(stored_name: str) -> None:
    (evidence_dir() / Path(stored_name).name).unlink(missing_ok=True)


def clean_name(name: str) -> str:
    """A display name: the last path part, printable characters, bounded."""
    base = Path(name.replace("\\", "/")).name or "evidence"
    printable = "".join(ch for ch in base if ch.isprintable())
    return printable[:MAX_NAME_CHARS] or "evidence"
