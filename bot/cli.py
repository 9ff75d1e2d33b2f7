"""The `muse` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from adapters.common.failures import PlatformFatal
from bot import secrets
from bot.config import Config, ConfigError, load_config
from bot.logs import setup_logging
from bot.platforms import configured_platforms
from bot.preflight import preflight
from bot.settings import CannotListen, MetricsSettings, parse_listen
from core.errors import ModelUnavailable

DEFAULT_CONFIG = "muse.toml"
# Exit codes (README "Exit codes"): 0 stopped normally, 1 unexpected error or model not
# loadable, 2 bad command line or config, 78 (EX_CONFIG) a platform refused the token or
# intents, 130 interrupted before start-up finished.
EXIT_PLATFORM_REFUSED = 78

DESCRIPTION = """\
Muse: a self-hosted generative-content bot for Discord, Slack and your terminal.

  muse run            start the bot (the platforms with tokens configured, else a terminal chat)
  muse chat           chat with Muse in this terminal
  muse check-config   validate a config file without starting
  muse doctor         check the machine, config, database, models and platform tokens

Try it offline with a tiny random model (its text is random words; it proves the
plumbing, not the writing):  muse chat --tiny
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"TOML config file (default: ${'{'}MUSE_CONFIG{'}'} or ./{DEFAULT_CONFIG} if present; "
        "see config.example.toml)",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite database (default: [muse] db, muse.db)"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="use tiny random models built in-process (offline; random text, real plumbing)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="override [muse] log_level",
    )
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        type=_listen,
        help="serve /metrics, /livez and /readyz there (overrides [metrics] listen)",
    )


def _listen(value: str) -> str:
    try:
        parse_listen(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="muse", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="start the bot on the configured platforms (else the shell)")
    _common(run)
    chat = sub.add_parser("chat", help="chat with Muse in this terminal (stdin may be a pipe)")
    _common(chat)
    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("path", metavar="PATH", help="the TOML file to check")
    doctor = sub.add_parser(
        "doctor",
        help="check python/torch/devices, GPU memory, config, database, models and platform "
        "tokens, one line each with the fix for what fails (exit 1 if anything does)",
    )
    doctor.add_argument("--config", metavar="PATH", help="config file (as for muse run)")
    doctor.add_argument("--db", metavar="PATH", help="SQLite database (default: [muse] db)")
    export = sub.add_parser(
        "export",
        help="print one conversation's stored messages as JSON, or 👍/👎 feedback as "
        "training data (JSONL)",
    )
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--conversation",
        metavar="KEY",
        help="conversation key, e.g. discord:<guild>:<channel>",
    )
    what.add_argument(
        "--feedback",
        action="store_true",
        help="rated replies as JSONL in TRL's columns (see --format); user ids pseudonymised, "
        "[privacy] training_opt_out channels left out",
    )
    export.add_argument(
        "--format",
        choices=["kto", "dpo"],
        default="kto",
        help="with --feedback: kto = prompt, completion, label; dpo = prompt, chosen, "
        "rejected (from regenerated replies with opposite votes)",
    )
    export.add_argument(
        "--metadata",
        action="store_true",
        help="with --feedback: add user (pseudonymised), persona and model columns",
    )
    export.add_argument("--config", metavar="PATH", help="config file (for [muse] db)")
    export.add_argument("--db", metavar="PATH", help="SQLite database")
    purge = sub.add_parser("purge", help="delete a user's messages, feedback and usage")
    purge.add_argument(
        "--user",
        required=True,
        metavar="PLATFORM:ID",
        help="e.g. discord:80351110224678912 or slack:U0123ABC",
    )
    purge.add_argument("--config", metavar="PATH", help="config file (for [muse] db)")
    purge.add_argument("--db", metavar="PATH", help="SQLite database")
    return parser


def resolve_config_path(arg: str | None) -> str | None:
    if arg:
        return arg
    if os.environ.get("MUSE_CONFIG"):
        return os.environ["MUSE_CONFIG"]
    return DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None


def _load(args: argparse.Namespace) -> Config:
    return load_config(resolve_config_path(args.config))


def _data_request(args: argparse.Namespace, db: str, config: Config) -> int:
    from bot import privacy

    if not Path(db).exists():
        print(f"no database at {db} (use --db)", file=sys.stderr)
        return 2
    if args.command == "export" and args.feedback:
        opt_out = config.privacy.training_opt_out
        lines = asyncio.run(privacy.export_feedback(db, args.format, opt_out, args.metadata))
        print("\n".join(lines))
        print(f"{len(lines)} {args.format} rows", file=sys.stderr)
        return 0
    if args.command == "export":
        print(asyncio.run(privacy.export_conversation(db, args.conversation)))
        return 0
    try:
        counts = asyncio.run(privacy.purge_user(db, args.user))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(", ".join(f"{n} {table} rows deleted" for table, n in counts.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "check-config":
            checked = load_config(args.path)
            if problems := preflight(checked):
                raise ConfigError(problems, args.path)
            print(f"{args.path}: OK")
            return 0
        if args.command == "doctor":
            from bot import doctor

            setup_logging("warning")  # library chatter stays out of the report
            return doctor.main(resolve_config_path(args.config), args.db)
        config = _load(args)
        if args.command in ("export", "purge"):
            return _data_request(args, args.db or config.muse.db, config)
        if problems := preflight(config, db=args.db, tiny=args.tiny):
            raise ConfigError(problems, resolve_config_path(args.config) or "config")
        # The terminal chat keeps the screen for the conversation: warnings and up only.
        # The terminal chat (asked for, or `run` with no platform) keeps the screen for the
        # conversation: warnings and up only, unless --log-level says otherwise.
        terminal = args.command == "chat" or not configured_platforms(config)
        default_level = "warning" if terminal else config.muse.log_level
        setup_logging(args.log_level or default_level, config.logging.format)
        if args.metrics_listen:
            config.metrics = MetricsSettings(listen=args.metrics_listen)
        secrets.install(secrets.collect_secrets(config.sections))
        from bot import app

        if args.command == "chat":
            asyncio.run(app.run_shell(config, tiny=args.tiny, db=args.db))
        else:
            asyncio.run(app.run(config, tiny=args.tiny, db=args.db))
        return 0
    except ConfigError as exc:
        print(f"Invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {exc.source}: {problem}", file=sys.stderr)
        return 2
    except ModelUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except PlatformFatal as exc:
        print(f"muse: {exc}", file=sys.stderr)
        return EXIT_PLATFORM_REFUSED
    except CannotListen as exc:
        print(f"muse: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
