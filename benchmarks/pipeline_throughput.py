"""Throughput and memory of the bounded fraud pipeline versus the pure-Python domain loop.

    python benchmarks/pipeline_throughput.py [--events 100000] [--repeat 1]

Generates a seeded data set (about 27 events per customer over 30 days), then measures, each
in a fresh process so peak memory is its own:

* ``beam``: ``pipelines.fraud.run`` on FnApiRunner (read, parse, detection in event-time
  order on the bounded run's grouped path, JSONL sinks, summary), wall time of the whole run,
  rules only (``--no_model``) and with the anomaly model (a model trained here on another
  seed); ``--detector_mode=stateful`` for the stateful path instead;
* ``domain``: the same parse -> per-customer event-time order -> rules -> scored JSON work in
  a plain Python loop, calling the domain exactly as both detector paths do (``judge``, the
  scored record, ``learn``): the ceiling any Python runner can approach;
* state bytes per customer: the customer's state cell after all events, encoded by the coder
  the pipeline stores it with.

Prints one JSON document. Numbers drift with machine load; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

EVENTS_PER_CUSTOMER = 27  # what the generator's defaults yield over 30 days


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(events: int, data_dir: str) -> dict[str, Any]:
    from pipelines.synthetic import generate_dataset

    dataset = generate_dataset(data_dir, customers=max(1, events // EVENTS_PER_CUSTOMER))
    return {"events": dataset.events, "labels": dataset.labels, "blacklist": dataset.blacklist}


def measure_beam(paths: dict[str, str], extra_args: list[str]) -> dict[str, Any]:
    from pipelines.fraud import run

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run(
            [
                f"--input={paths['events']}",
                f"--labels_file={paths['labels']}",
                f"--blacklist={paths['blacklist']}",
                f"--output_dir={out}",
                *extra_args,
            ]
        )
        seconds = time.perf_counter() - started
    return {
        "read": summary["read"],
        "seconds": round(seconds, 2),
        "events_per_second": round(summary["read"] / seconds),
        "peak_rss_mib": round(_peak_rss_mib()),
    }


def measure_domain(paths: dict[str, str]) -> dict[str, Any]:
    from transforms.domain.blacklist import parse_blacklist_lines
    from transforms.domain.config import default_rules
    from transforms.domain.detector import FraudDetector
    from transforms.domain.event_time import DEFAULT_BUSINESS_TIMEZONE, business_timezone
    from transforms.domain.events import group_by_customer
    from transforms.domain.features import named_features
    from transforms.domain.outputs import scored_transaction
    from transforms.domain.state import CustomerProfile

    rules = default_rules()
    zone = business_timezone(DEFAULT_BUSINESS_TIMEZONE)
    with open(paths["blacklist"], encoding="utf-8") as handle:
        blacklist = parse_blacklist_lines(handle)
    with open(paths["events"], "rb") as handle:
        lines = [line.rstrip(b"\n") for line in handle]
    detector = FraudDetector(rules, zone)

    started = time.perf_counter()
    by_customer, _ = group_by_customer(lines, zone)
    profiles: dict[str, CustomerProfile] = {}
    written = 0
    for customer_id, events in by_customer.items():
        profile = profiles[customer_id] = CustomerProfile()
        for event in events:
            hit = blacklist.check(event.customer_id, event.store_id)
            judgement = detector.judge(profile, event, hit)
            record = scored_transaction(
                event,
                judgement.assessment,
                alert_threshold=rules.alert_threshold,
                rules_version=rules.rules_version,
                features=named_features(judgement.features),
            )
            detector.learn(profile, event, judgement)
            written += len(json.dumps(record, separators=(",", ":")))
    seconds = time.perf_counter() - started
    peak_rss_mib = _peak_rss_mib()

    # Imported after the peak is taken: Beam is not part of the pure-Python loop.
    from transforms.coders import DetectorCell, DetectorCellCoder

    coder = DetectorCellCoder()
    state_sizes = sorted(len(coder.encode(DetectorCell(p))) for p in profiles.values())
    return {
        "read": len(lines),
        "seconds": round(seconds, 2),
        "events_per_second": round(len(lines) / seconds),
        "peak_rss_mib": round(peak_rss_mib),
        "state_bytes_per_customer": {
            "mean": round(sum(state_sizes) / len(state_sizes)),
            "p99": state_sizes[int(0.99 * (len(state_sizes) - 1))],
            "max": state_sizes[-1],
        },
    }


def _in_subprocess(part: str, paths: dict[str, str], extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--part", part, "--paths", json.dumps(paths), *extra]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--part", choices=["beam", "domain"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args, beam_args = parser.parse_known_args()
    if args.part:
        paths = json.loads(args.paths)
        result = measure_beam(paths, beam_args) if args.part == "beam" else measure_domain(paths)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as data_dir:
        paths = _generate(args.events, data_dir)
        model_dir = os.path.join(data_dir, "model")
        from pipelines.train_default import train_model

        train_model(model_dir, seed=7)
        domain = _in_subprocess("domain", paths, [])
        beam = _in_subprocess("beam", paths, ["--no_model", *beam_args])
        beam_ml = _in_subprocess("beam", paths, [f"--model={model_dir}", *beam_args])
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "beam_fnapi_runner": beam,
        "beam_fnapi_runner_with_model": beam_ml,
        "pure_python_domain_loop": domain,
        "beam_vs_domain_slowdown": round(
            domain["events_per_second"] / beam["events_per_second"], 2
        ),
        "with_model_vs_without": round(beam_ml["events_per_second"] / beam["events_per_second"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
