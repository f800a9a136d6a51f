"""The Dockerfile, read as Docker reads it (continuation lines joined, comments dropped, one
list of instructions per stage): every stage that imports OpenCV or pyrender has installed the
system libraries they load by then."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
# opencv-python's wheel (bundled Qt) loads libGL.so.1, libglib-2.0.so.0 and libgthread-2.0.so.0;
# detectron2 imports cv2 at import; pyrender's PyOpenGL loads libGL; hmr2 and phalp import both.
NEEDS_GL_AND_GLIB = {"cv2", "detectron2", "pyrender", "hmr2", "phalp", "track"}
GL_AND_GLIB = {"libgl1", "libglib2.0-0"}


def instructions(text: str) -> list[tuple[str, str]]:
    out, buf = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue  # blank lines and comments, also inside a continued instruction
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def service_imports() -> set[str]:
    """Top-level modules the service's own code imports (at any depth of its functions)."""
    found = set()
    for path in (ROOT / "pose_service").glob("*.py"):
        found |= set(re.findall(r"^\s*(?:import|from)\s+(\w+)", path.read_text(), re.M))
    return found


def stages(text: str) -> list[dict]:
    """Per stage: its name and, in order, ("apt", packages) and ("import", modules) steps."""
    out: list[dict] = []
    for word, arg in instructions(text):
        if word == "FROM":
            image, _, name = arg.partition(" AS ")
            out.append({"name": name.strip() or image.strip(), "steps": []})
        elif not out:
            continue  # ARG before the first FROM
        elif word == "RUN":
            for command in re.split(r"&&|;|\|\|", arg):
                apt = re.search(r"apt-get install (.*)", command)
                if apt:
                    out[-1]["steps"].append(("apt", {w for w in apt.group(1).split() if not w.startswith("-")}))
            for code in re.findall(r"""python[\d.]* -c (?:"([^"]*)"|'([^']*)')""", arg):
                mods = set(re.findall(r"(?:^|;)\s*import ([\w., ]+)", "".join(code)))
                out[-1]["steps"].append(("import", {m.strip().split(".")[0] for ms in mods for m in ms.split(",")}))
        elif word == "CMD" and "pose_service" in arg:
            out[-1]["steps"].append(("import", service_imports()))
    return out


def test_the_parser_sees_both_import_points():
    parsed = stages(DOCKERFILE.read_text())
    assert [s["name"] for s in parsed] == ["builder", "nvidia/cuda:${CUDA_IMAGE_TAG}-runtime-ubuntu22.04"]
    builder_imports = [what for kind, what in parsed[0]["steps"] if kind == "import"]
    assert builder_imports == [{"torch", "detectron2", "neural_renderer", "chumpy", "smplx", "pyrender"}]
    assert {"cv2", "pyrender", "hmr2", "track"} <= service_imports()


def test_every_stage_that_imports_opencv_or_pyrender_installs_libgl_and_glib_first():
    checked = []
    for stage in stages(DOCKERFILE.read_text()):
        installed: set = set()
        for kind, what in stage["steps"]:
            if kind == "apt":
                installed |= what
            elif what & NEEDS_GL_AND_GLIB:
                missing = GL_AND_GLIB - installed
                assert not missing, (f"stage {stage['name']} imports {sorted(what & NEEDS_GL_AND_GLIB)} "
                                     f"before installing {sorted(missing)}")
                checked.append(stage["name"])
    assert checked == ["builder", "nvidia/cuda:${CUDA_IMAGE_TAG}-runtime-ubuntu22.04"]
