"""List the public names of the official IRN and AMN library modules -> tests/data/official_names.json.

    python tests/data/list_official_names.py --irn IRN_CHECKOUT --amn_voc12 AMN_VOC12 --amn_coco14 AMN_COCO14

Reads each checkout's misc/, net/, voc12/ and coco14/ modules with ``ast`` (nothing is imported or copied) and
records every top-level class, function and variable whose name does not start with ``_``. The driver scripts and
the step/ modules are left out: their names are the step functions' ``run``.
"""
from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

PACKAGES = ("misc", "net", "voc12", "coco14")
SKIP = ("make_cls_labels.py", "__init__.py")


def public_names(path: Path) -> list[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return sorted(n for n in names if not n.startswith("_"))


def modules(checkout: Path) -> dict[str, list[str]]:
    out = {}
    for package in PACKAGES:
        for path in sorted((checkout / package).glob("*.py")):
            if path.name not in SKIP:
                out[f"{package}.{path.stem}"] = public_names(path)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--irn", required=True, help="a checkout of jiwoon-ahn/irn")
    p.add_argument("--amn_voc12", required=True, help="a checkout of gaviotas/AMN, branch voc12")
    p.add_argument("--amn_coco14", required=True, help="a checkout of gaviotas/AMN, branch coco14")
    p.add_argument("--out", default=str(Path(__file__).with_name("official_names.json")))
    a = p.parse_args()
    names = {"irn": modules(Path(a.irn)), "amn_voc12": modules(Path(a.amn_voc12)),
             "amn_coco14": modules(Path(a.amn_coco14))}
    Path(a.out).write_text(json.dumps(names, indent=1) + "\n")
    print(f"wrote {a.out}: " + ", ".join(f"{k} {sum(map(len, v.values()))} names" for k, v in names.items()))


if __name__ == "__main__":
    main()
