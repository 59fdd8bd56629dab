"""Writes deploy/k8s/configmap.yaml (ConfigMap `acd-config`) from the files of config/, byte for byte,
the same as `kubectl create configmap acd-config --from-file=config/ --dry-run=client -o yaml`.

    python deploy/k8s/make_configmap.py          # rewrite it after changing config/
    python deploy/k8s/make_configmap.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CONFIG = HERE.parent.parent / "config"
OUT = HERE / "configmap.yaml"


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def render() -> str:
    data = {p.name: _Literal(p.read_text(encoding="utf-8")) for p in sorted(CONFIG.glob("*.yaml"))}
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "acd-config", "labels": {"app.kubernetes.io/name": "acd"}},
        "data": data,
    }
    dumper = yaml.SafeDumper
    dumper.add_representer(_Literal, _literal)
    header = "# Generated from config/ by deploy/k8s/make_configmap.py: edit config/, then run it.\n"
    return header + yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1000)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
