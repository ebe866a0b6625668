"""Record what the hosted card page serves now as the integrity baseline (PCI DSS 11.6.1).

Run after every intended change to the page, its scripts or its headers:

    manage.py record_payment_page_baseline --key pk_live_… --origin https://shop.example
    manage.py record_payment_page_baseline --url https://pay.example/hosted/fields?key=…&origin=…
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError

from core.errors import InvalidRequest
from tokenization import services


class Command(BaseCommand):
    help = "Record the hosted card page's headers and scripts as the integrity baseline."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="", help="absolute URL of the page to monitor")
        parser.add_argument("--key", default="", help="a publishable key (in-process fetch)")
        parser.add_argument("--origin", default="", help="an allowed origin of that merchant")

    def handle(self, *args, url: str, key: str, origin: str, **options) -> None:
        if not url:
            if not (key and origin):
                raise CommandError("give --url, or --key and --origin")
            url = "/hosted/fields?" + urlencode({"key": key, "origin": origin})
        try:
            baseline = services.record_page_baseline(url=url)
        except InvalidRequest as exc:
            raise CommandError(exc.message)
        count = len(baseline.details["resources"])
        self.stdout.write(f"baseline {baseline.digest[:16]}… recorded ({count} resources)")
