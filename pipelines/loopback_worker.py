"""A Python worker process of a LOOPBACK Flink job that ends quietly when its job does.

Beam's loopback pool starts each worker process as ``python -c "...SdkHarness(...).run()"``;
:func:`pipelines.flink.worker_python_on_path` makes that ``python`` a shim that runs this
module with the same arguments. When Flink cancels or finishes the job, Beam's command raises
``Runner closed connection`` (gRPC CANCELLED), and Ctrl-C in the launcher's terminal reaches
every worker as KeyboardInterrupt: each printed a traceback on the launcher's stderr for an
ending that is normal. Any other failure still prints its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import grpc

USAGE = "pipelines.loopback_worker: expected `-c CODE`, as Beam's loopback pool starts a worker"


def is_cancelled(error: grpc.RpcError) -> bool:
    code = getattr(error, "code", None)
    return callable(code) and code() == grpc.StatusCode.CANCELLED


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "-c":
        print(USAGE, file=sys.stderr)
        return 2
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
