"""Scrapes the local Flink cluster's Prometheus endpoints while a job runs.

Operator metrics exist only while their job runs, so a background thread polls every
endpoint and keeps, per metric name, the largest value seen for the job.
"""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Iterator

from tests.services import service_script

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def endpoints() -> list[str]:
    return service_script("flink", "metrics-urls").split()


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match.group("labels") or ""))
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        yield match.group("name"), labels, value


class Scraper(threading.Thread):
    def __init__(self, urls: list[str], job_name: str, interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        # The reporter writes label values with every character but [A-Za-z0-9:_] as "_".
        self.job_name = re.sub(r"[^A-Za-z0-9:_]", "_", job_name)
        self.urls, self.interval_s = urls, interval_s
        self.seen: dict[str, float] = {}
        self.scrapes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval_s):
            for url in self.urls:
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        text = response.read().decode("utf-8")
                except OSError:
                    continue
                self.scrapes += 1
                for name, labels, value in samples(text):
                    if self.job_name not in labels.get("job_name", ""):
                        continue
                    self.seen[name] = max(value, self.seen.get(name, float("-inf")))
