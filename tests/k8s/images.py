"""The image build files under k8s/images/ and the pipeline options, as the tests read them.

The Python script there is copied into the images rather than installed with the package, so
the tests load it from its file.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

from tests.k8s.render import K8S_DIR

IMAGES_DIR = K8S_DIR / "images"
PIPELINE_ARGS = K8S_DIR / "config" / "fraud-pipeline.args"
FLINK_DOCKERFILE = IMAGES_DIR / "flink.Dockerfile"
WORKER_DOCKERFILE = IMAGES_DIR / "worker.Dockerfile"


def image_script(name: str) -> ModuleType:
    """The module of ``k8s/images/<name>.py``, loaded once."""
    module_name = f"k8s_images_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, IMAGES_DIR / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def pipeline_args() -> list[str]:
    args: list[str] = image_script("build_pipeline_jar").read_args(PIPELINE_ARGS)
    return args


def dockerfile_instructions(path: Path) -> list[list[str]]:
    """Each instruction as its words, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text("utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def dockerfile_arg(path: Path, name: str) -> str:
    """The default value of ``ARG name=value``."""
    for words in dockerfile_instructions(path):
        if words[0] == "ARG" and words[1].startswith(f"{name}="):
            return words[1].split("=", 1)[1]
    raise LookupError(f"no ARG {name} in {path.name}")


def dockerfile_copies(path: Path) -> list[tuple[str, str]]:
    """(source, path in the image) of every file a COPY or ADD puts in the image."""
    copies = []
    for words in dockerfile_instructions(path):
        if words[0] in ("COPY", "ADD"):
            *sources, destination = [word for word in words[1:] if not word.startswith("--")]
            for source in sources:
                target = destination
                if destination.endswith("/"):
                    target = destination + source.rstrip("/").rsplit("/", 1)[-1]
                copies.append((source, target))
    return copies
