"""Import a bank statement file (camt.053 or MT940) and match its credits, with progress."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.errors import DomainError
from ledger.statements import services
from ledger.statements.parsing import FORMATS


class Command(BaseCommand):
    help = "Import a camt.053 or MT940 statement of a collection account and match its credits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--format", choices=FORMATS, help="the file's format (detected from its content)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: Path, format: str | None, no_progress: bool, **options) -> None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        with tqdm(unit="entry", desc="entries", file=self.stderr, disable=no_progress) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                result = services.import_statement(
                    data=data,
                    filename=file.name,
                    actor="system:import_bank_statement",
                    progress=progress,
                    format=format,
                )
            except DomainError as exc:
                raise CommandError(f"nothing imported: {exc.message}") from exc
        self.stdout.write(_summary(result))


def _summary(result: services.ImportResult) -> str:
    head = (
        f"statement #{result.statement_id} imported"
        if result.created
        else f"statement #{result.statement_id} was imported before; nothing booked twice"
    )
    return (
        f"{head}: {result.credits} credits, {result.matched} matched, {result.queued} queued, "
        f"{result.held} held, {result.debits} debits, "
        f"{result.duplicates} duplicates skipped"
    )
