"""Command line: the report of §5 from CSV files exported from anywhere, and power calculations.

python -m analysis report ratings.csv [diversity.csv] --out DIR [--exclude r1,r2] [--metrics m.csv]
python -m analysis power --difference 0.3 --sd-prompt 0.4 --sd-rater 0.9
python -m analysis power --win-rate 0.6 --tie-rate 0.3
python -m analysis power --pilot ratings.csv [diversity.csv]
"""

from __future__ import annotations

import os

# The report's matrices are small: one BLAS thread avoids oversubscription on a shared, loaded machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gc  # noqa: E402

if __name__ == "__main__":
    # The command's own process: no garbage collection while the libraries import (see _report).
    gc.disable()

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from .data import RatingsFormatError, read_table  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="write summary.json, tables (CSV/MD/TeX) and PNG plots")
    report.add_argument(
        "ratings", type=Path, help="ratings.csv: rater_id,prompt_id,variant,criterion,score,created_at"
    )
    report.add_argument(
        "diversity",
        type=Path,
        nargs="?",
        help="diversity.csv: rater_id,prompt_id,variant_a,variant_b,choice,…",
    )
    report.add_argument("--out", type=Path, required=True, help="folder to write the report into")
    report.add_argument("--exclude", default="", help="comma-separated rater ids to leave out")
    report.add_argument("--exclude-file", type=Path, help="file of rater ids to leave out, one per line")
    report.add_argument("--include-excluded", action="store_true", help="keep the excluded raters after all")
    report.add_argument(
        "--metrics", type=Path, help="automatic metrics CSV: variant,text_adherence,diversity"
    )
    report.add_argument("--seed", type=int, default=0, help="seed of the bootstraps (default 0)")

    power = commands.add_parser("power", help="prompts and raters needed for 80%% power")
    power.add_argument("--difference", type=float, help="quality: expected mean difference in score points")
    power.add_argument(
        "--sd-prompt", type=float, default=0.0, help="quality: sd of the difference across prompts"
    )
    power.add_argument(
        "--sd-rater", type=float, default=1.0, help="quality: sd of one rater's difference within a prompt"
    )
    power.add_argument("--win-rate", type=float, help="diversity: expected win rate W/(W+L)")
    power.add_argument("--tie-rate", type=float, default=0.0, help="diversity: expected share of ties")
    power.add_argument(
        "--rho", type=float, default=0.0, help="diversity: within-prompt correlation of judgements"
    )
    power.add_argument(
        "--pilot", type=Path, nargs="+", help="pilot ratings.csv [diversity.csv] instead of effects"
    )
    power.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    power.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    return parser


def _excluded(arguments: argparse.Namespace) -> set[str]:
    ids = {rater.strip() for rater in arguments.exclude.split(",") if rater.strip()}
    if arguments.exclude_file:
        try:
            lines = arguments.exclude_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise RatingsFormatError(f"{arguments.exclude_file}: {error.strerror}") from None
        ids |= {line.strip() for line in lines if line.strip()}
    return ids


def _metrics(path: Path | None) -> dict[str, dict[str, float]] | None:
    if path is None:
        return None
    table = read_table(path)
    if "variant" not in table.columns:
        raise RatingsFormatError(
            f"{path}: needs a variant column and metric columns such as text_adherence,diversity"
        )
    try:
        return table.set_index("variant").astype(float).to_dict(orient="index")
    except ValueError:
        raise RatingsFormatError(f"{path}: every metric must be a number") from None


def _report(arguments: argparse.Namespace, *, exiting: bool = False) -> None:
    from .report import counted, write_report

    if exiting:
        # A process that exits when the report is written: the collector was off while numpy,
        # pandas, scipy, statsmodels and matplotlib imported, and the objects they made now move to
        # its permanent generation, so neither the collections during the analysis nor the final
        # one at exit walk them (0.35 s of a 2.4 s command). Only when run as `python -m analysis`,
        # not from main() in a longer-lived process, where frozen objects would never be collected.
        gc.freeze()
        gc.enable()

    ratings = read_table(arguments.ratings)
    diversity = read_table(arguments.diversity) if arguments.diversity else None
    summary = write_report(
        ratings,
        diversity,
        arguments.out,
        excluded_raters=_excluded(arguments),
        include_excluded=arguments.include_excluded,
        automatic_metrics=_metrics(arguments.metrics),
        seed=arguments.seed,
    )
    left_out = summary["meta"]["excluded_raters"]["left_out"]
    excluded = counted(left_out, "excluded rater")
    print(f"wrote {counted(len(summary['files']), 'file')} to {arguments.out} ({excluded} left out)")
    for note in summary["notes"]:
        print(f"note: {note}")
    if exiting:
        gc.freeze()


def _power(arguments: argparse.Namespace) -> None:
    from . import power
    from .data import clean_diversity, clean_quality
    from .report import counted
    from .tables import power_table, to_markdown

    targets = {"power": arguments.power, "alpha": arguments.alpha}
    if arguments.pilot:
        quality = power.quality_power_table(clean_quality(read_table(arguments.pilot[0])))
        print(to_markdown(power_table(quality, quality=True)))
        if len(arguments.pilot) > 1:
            diversity = power.diversity_power_table(clean_diversity(read_table(arguments.pilot[1])))
            print(to_markdown(power_table(diversity, quality=False)))
        return
    if arguments.difference is None and arguments.win_rate is None:
        raise RatingsFormatError("give --difference (quality), --win-rate (diversity) or --pilot FILES")
    for raters in power.RATER_COUNTS:
        parts = [f"{counted(raters, 'rater')} per prompt:"]
        if arguments.difference is not None:
            prompts = power.prompts_for_paired_test(
                difference=arguments.difference,
                sd_prompt=arguments.sd_prompt,
                sd_rater=arguments.sd_rater,
                raters=raters,
                **targets,
            )
            parts.append(f"quality {prompts or '>100000'} prompts")
        if arguments.win_rate is not None:
            prompts = power.prompts_for_win_rate(
                win_rate=arguments.win_rate,
                tie_rate=arguments.tie_rate,
                raters=raters,
                within_prompt_correlation=arguments.rho,
                **targets,
            )
            parts.append(f"diversity {prompts or 'unreachable'} prompts")
        print(" ".join(parts))


def main(argv: list[str] | None = None, *, exiting: bool = False) -> int:
    """Run the command; ``exiting``: the process ends when it returns (see ``_report``)."""
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "report":
            _report(arguments, exiting=exiting)
        else:
            if exiting:
                gc.enable()  # off since the imports (the command's own process only)
            _power(arguments)
    except RatingsFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an --out that is a file, a folder that cannot be written
        print(f"error: {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(exiting=True))
