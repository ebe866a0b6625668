"""Command line: ``python -m routing.simulator [--host H] [--port P] [--providers a,b] ...``.

Every option has a PSP_SIM_* environment variable and a default that works on a fresh machine.
Prints exactly one line to stdout once the socket is listening (``psp-sim listening on
http://host:port providers=...``) so that a parent process can wait for it; `--port 0` picks a
free port and that line tells which. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from routing.simulator.errors import ApiError
from routing.simulator.server import Simulator, SimulatorServer
from routing.simulator.webhooks import DEFAULT_WEBHOOK_SECRET, parse_target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="psp-sim", description="PSP simulator (HTTP)")
    parser.add_argument("--host", default=env("PSP_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("PSP_SIM_PORT", "8100")))
    parser.add_argument(
        "--providers",
        default=env("PSP_SIM_PROVIDERS", "sim-a,sim-b"),
        help="comma-separated provider names",
    )
    parser.add_argument(
        "--webhook-url",
        default=env("PSP_SIM_WEBHOOK_URL", ""),
        help="where events are POSTed; may contain {provider}",
    )
    parser.add_argument(
        "--webhook-secret",
        action="append",
        help="whsec_ signing secret; repeat to sign with several (rotation)",
    )
    parser.add_argument("--data-dir", default=env("PSP_SIM_DATA_DIR", ""))
    parser.add_argument("--seed", type=int, default=_int_or_none(env("PSP_SIM_SEED")))
    parser.add_argument("--log-level", default=env("PSP_SIM_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    if not args.webhook_secret:
        from_env = env("PSP_SIM_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET)
        args.webhook_secret = [s.strip() for s in from_env.split(",") if s.strip()]
    return args


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value else None


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="psp-sim %(levelname)s %(message)s"
    )
    names = [name.strip() for name in args.providers.split(",") if name.strip()]
    try:
        webhook = parse_target({"url": args.webhook_url, "secrets": args.webhook_secret})
        simulator = Simulator(
            names,
            webhook=webhook,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            seed=args.seed,
        )
    except (ValueError, ApiError) as exc:
        print(f"psp-sim: {exc}", file=sys.stderr)
        return 2
    server = SimulatorServer((args.host, args.port), simulator)
    simulator.start()
    host, port = server.server_address[:2]
    print(f"psp-sim listening on http://{host}:{port} providers={','.join(names)}", flush=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        simulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
