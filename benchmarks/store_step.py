"""What the store step costs: the detector with and without it, on FnApiRunner.

    python benchmarks/store_step.py [--customers 2000] [--days 30] [--repeat 3]

Generates the handbook world (``pipelines.generate --world handbook``, with its feedback),
then times, each run in a fresh process, the detector graph alone (read, parse, detect,
count; no model, no sinks, so the difference is the store step's): ``DetectFraud`` with the
store step and the feedback, and without both (``track_stores=False``), on the grouped path
(bounded runs) and on the stateful path (state and timers; on this runner a shuffle between
the two stateful steps too). Also the store state's size: each store's cell after the whole
input, as its coder stores it. Prints one JSON document; quote medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def measure(events: str, feedback: str, store_step: bool, grouped: bool) -> dict[str, Any]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.options import FN_API_RUNNER
    from transforms.domain.blacklist import Blacklist
    from transforms.domain.config import default_rules
    from transforms.fraud_detection import DetectFraud
    from transforms.parse import ParseEvents
    from transforms.parse_controls import FEEDBACK_INPUT, ParseControls
    from transforms.read import ReadJsonLines
    from transforms.tags import ACCEPTED_TAG, EVENTS_TAG, SCORED_TAG

    zone = "America/Sao_Paulo"
    started = time.perf_counter()
    with beam.Pipeline(runner=FN_API_RUNNER, options=PipelineOptions([])) as pipeline:
        parsed = pipeline | "Events" >> ReadJsonLines([events]) | ParseEvents(zone, 1 << 20, "b")
        inputs = {"events": parsed[EVENTS_TAG]}
        if store_step:
            controls = (
                pipeline
                | "Feedback" >> ReadJsonLines([feedback])
                | ParseControls(FEEDBACK_INPUT, 1 << 20, "b")
            )
            inputs["feedback"] = controls[ACCEPTED_TAG]
        detected = inputs | DetectFraud(
            default_rules(), zone, Blacklist(), "b", grouped=grouped, track_stores=store_step
        )
        _ = detected[SCORED_TAG] | beam.combiners.Count.Globally()
    return {"seconds": time.perf_counter() - started}


def store_state_bytes(events: str, feedback: str) -> dict[str, int]:
    """Each store's cell after every record, replayed in order through the store loop."""
    from transforms.coders import (
        StoreCell,
        StoreCellCoder,
        buffered_order,
        encode_buffered,
        encode_feedback,
    )
    from transforms.domain.blacklist import NO_HIT, Blacklist
    from transforms.domain.event_time import business_timezone
    from transforms.domain.events import Transaction, parse_event
    from transforms.domain.feedback import Feedback, parse_feedback
    from transforms.store_step import StoreLoop

    zone = business_timezone("America/Sao_Paulo")
    by_store: dict[str, list[bytes]] = {}
    with open(events, "rb") as handle:
        for line in handle:
            event = parse_event(line.rstrip(b"\n"), zone)
            if isinstance(event, Transaction):
                by_store.setdefault(event.store_id, []).append(encode_buffered(event, NO_HIT))
    with open(feedback, "rb") as handle:
        for line in handle:
            report = parse_feedback(line.rstrip(b"\n"))
            if isinstance(report, Feedback) and report.store_id in by_store:
                by_store[report.store_id].append(encode_feedback(report))
    coder, sizes = StoreCellCoder(), []
    for store_id, records in by_store.items():
        cell = StoreCell()
        ordered = sorted(records, key=buffered_order)
        list(StoreLoop(Blacklist()).release(store_id, cell.activity, ordered))
        sizes.append(len(coder.encode(cell)))
    sizes.sort()
    return {"stores": len(sizes), "mean": round(statistics.mean(sizes)), "max": sizes[-1]}


def _in_subprocess(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, *args]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--part", choices=["measure"], help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--feedback", help=argparse.SUPPRESS)
    parser.add_argument("--store_step", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--grouped", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "measure":
        result = measure(args.events, args.feedback, bool(args.store_step), bool(args.grouped))
        print(json.dumps(result))
        return

    from pipelines.synthetic import generate_dataset

    with tempfile.TemporaryDirectory() as data_dir:
        data = generate_dataset(
            data_dir, customers=args.customers, days=args.days, world="handbook"
        )
        report: dict[str, Any] = {
            "events": data.counts["events"],
            "feedback": data.counts["feedback"],
        }
        for path in ("grouped", "stateful"):
            seconds: dict[str, list[float]] = {"with": [], "without": []}
            for _ in range(args.repeat):
                for label, store_step in (("with", 1), ("without", 0)):
                    part = [
                        "--part=measure",
                        f"--events={data.events}",
                        f"--feedback={data.feedback}",
                        f"--store_step={store_step}",
                        f"--grouped={int(path == 'grouped')}",
                    ]
                    seconds[label].append(_in_subprocess(part)["seconds"])
            rates = {
                label: round(data.counts["events"] / statistics.median(runs))
                for label, runs in seconds.items()
            }
            report[path] = {
                "events_per_second_with_store_step": rates["with"],
                "events_per_second_without": rates["without"],
                "store_step_cost": round(1 - rates["with"] / rates["without"], 3),
                "seconds": {label: [round(s, 2) for s in runs] for label, runs in seconds.items()},
            }
        report["store_state_bytes"] = store_state_bytes(data.events, data.feedback)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
