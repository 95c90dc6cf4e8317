"""A Python worker process of a LOOPBACK Flink job that ends quietly when its job does.

Beam's loopback pool starts each worker process as ``python -c "...SdkHarness(...).run()"``;
:func:`pipelines.flink.worker_python_on_path` makes that ``python`` a shim that runs this
module with the same arguments. When Flink cancels or finishes the job, Beam's command raises
``Runner closed connection`` (gRPC CANCELLED), and Ctrl-C in the launcher's terminal reaches
every worker as KeyboardInterrupt: each printed a traceback on the launcher's stderr for an
ending that is normal. The worker's data-plane thread meets the same cancellation and logs it,
then dies of it: both are silenced too. Any other failure still prints its traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from typing import Any

import grpc

USAGE = "pipelines.loopback_worker: expected `-c CODE`, as Beam's loopback pool starts a worker"


def is_cancelled(error: grpc.RpcError) -> bool:
    code = getattr(error, "code", None)
    return callable(code) and code() == grpc.StatusCode.CANCELLED


def _cancelled(error: BaseException | None) -> bool:
    return isinstance(error, grpc.RpcError) and is_cancelled(error)


class _CancelledFilter(logging.Filter):
    """Drops a log record whose exception is the runner's cancellation."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _cancelled(record.exc_info[1]))


def quiet_cancelled_threads() -> None:
    """The runner's cancellation, met by the worker's other threads, ends them silently."""
    previous = threading.excepthook

    def hook(args: Any) -> None:
        if not _cancelled(args.exc_value):
            previous(args)

    threading.excepthook = hook
    # Beam's data plane logs the failed read (with its traceback) before its thread dies.
    logging.getLogger("apache_beam.runners.worker.data_plane").addFilter(_CancelledFilter())


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "-c":
        print(USAGE, file=sys.stderr)
        return 2
    quiet_cancelled_threads()
    try:
        exec(compile(argv[1], "<beam worker>", "exec"), {"__name__": "__main__"})
    except KeyboardInterrupt:
        return 130
    except grpc.RpcError as error:
        if not is_cancelled(error):
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
