"""The Lab dialog's checks are the gateway's (as the launch form's script is form.py's).

The dialog (``labextension/src/schema.ts``) checks each field against the option schema the
gateway publishes (``jobs.options.render_schema``) before it submits; the gateway checks the
request again on submission (``Submitter.validate``: the spec, the sandbox rules, the image
and the administrators' limits; then the cluster field and the federation's names). Here the
extension's own TypeScript runs under node over texts that exercise every rule of every option,
for every kind the option applies to, and for each one the dialog must refuse the field exactly
when the gateway refuses the value the dialog would send, and send what the gateway keeps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from fedspawner.gateway.config import Gateway
from fedspawner.gateway.errors import GatewayError
from fedspawner.gateway.submit import Submitter
from fedspawner.jobs.errors import JobSpecError
from fedspawner.jobs.fields import parse_cluster_field
from fedspawner.jobs.options import render_schema

LAB = Path(__file__).resolve().parents[2] / "labextension"
GPU_TYPES = [{"name": "nvidia-h100-80gb", "display": "NVIDIA H100 80GB", "clusters": ["burst"]},
             {"name": "nvidia-a100-40gb", "display": "NVIDIA A100 40GB", "clusters": ["onprem", "regional"]}]
#: A gateway with the default settings (its limits are the ones published in the schema).
SETTINGS = Gateway()
SCHEMA = render_schema(["onprem", "regional", "burst"], GPU_TYPES, SETTINGS.limits())
#: The gateway's own check of a submission; it reads only the settings (no cluster is asked).
SUBMITTER = Submitter(registry=None, discovery=None, settings=SETTINGS)

#: The extension's schema.ts, transpiled by its own TypeScript, run on each case.
RUN_DIALOG = r"""
const fs = require('fs');
const vm = require('vm');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const ts = require(input.typescript);
const js = ts.transpileModule(fs.readFileSync(input.path, 'utf8'), {compilerOptions: {
  module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020}}).outputText;
const module = {exports: {}};
vm.runInNewContext(js, {module, exports: module.exports, TextEncoder,
                        require: name => { throw new Error('schema.ts imports ' + name); }});
const rules = module.exports;
const fields = input.fields.map(c => {
  const option = input.schema.options.find(o => o.name === c.option);
  const [value, error] = rules.parseField(option, c.raw, c.kind);
  return {omitted: value === undefined, value: value === undefined ? null : value, error};
});
const scripts = input.scripts.map(s => rules.buildSpec(input.schema, 'job', {}, s).errors.script || null);
process.stdout.write(JSON.stringify({fields, scripts}));
"""

# ---- texts that exercise every rule ------------------------------------------------------

STRINGS = ["a", "train-1", "resnet-ddp-2", "A", "1a", "-a", "a-", "a_b", "a.b", "a b", "é", "a" * 40, "a" * 41,
           "a" * 64, "a" * 65, "a" * 255, "a" * 256, "a" * 255 + ":" + "t" * 128, "a" * 256 + ":t",
           "h:5000/" + "a" * 248, "h:5000/" + "a" * 249, "a" * 255 + "@sha256:" + "0" * 64, "a" * 500, "a" * 501,
           "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
           "python:3.11-slim", "registry.example.org:5000/team/img@sha256:" + "0" * 64,
           "pytorch/pytorch:x/../../evil", "img;rm -rf /", "img$(id)", "imagenet", "imagenet-1k", "data_v2.1",
           "ImageNet", "a..b", "a\tb"]
INTEGERS = ["0", "1", "2", "10", "11", "16", "17", "64", "65", "999", "1000", "1001", "2592000", "2592001", "-1",
            "-0", "007", "1.0", "2.5", "+1", "1e3", "abc", "٣", "99999999999999999999"]
QUANTITIES = ["500m", "1", "2", "0", "-0", "-1", "+1", "1m", "0.9m", "0.5m", "1000u", "999u", "1u", "1000000n",
              "999999n", "0.001", "1e-3", "1e3", "1E2", "1e3m", ".5", "1.", ".", "1.2.3", "5e", "e3", "1i", "1K",
              "1k", "1Ki", "64", "65", "64000m", "64001m", "64.0000001", "512", "513", "512000m", "512001m",
              "512.00000000000000000000000001",
              "512.0000000000000000000000001", "2Gi", "64Mi", "63Mi", "67108863", "67108864", "1536Mi", "1535Mi",
              "1.5Gi", "1.4999Gi", "512Gi", "513Gi", "524288Mi", "524289Mi", "0.5Ti", "8Ei", "1E", "1e999999",
              "1e1000000", "1e-999999", "1e-1000000000", "1_000",
              "Infinity", "NaN", "2 Gi", "0x10", "２"]
PACKAGES = ["numpy", "numpy\npandas>=2", "pandas[parquet]>=2.1", "mylib @ https://host/mylib.whl", "torch==2.5.1+cu124",
            "-e .", "--index-url http://x", "a;b", "a|b", "'a'", "a`id`", "x" * 200, "x" * 201, "é",
            "\n".join(f"p{i}" for i in range(100)), "\n".join(f"p{i}" for i in range(101)), "numpy\n\n  rich  "]
ENTRIES = ["A=1", "A=1\nB=2", "A=x=y", "A=", "_A=1", "A_B9=1", "1A=1", "A-B=1", "A B=1", "é=1", "RANK=1",
           "MASTER_ADDR=x", "FEDSPAWNER_X=1", "PET_A=1", "TORCHELASTIC_X=1", "A" * 128 + "=1", "A" * 129 + "=1",
           "A=" + "x" * 4096, "A=" + "x" * 4097, "A=" + "x" * 32768, "A=" + "x" * 32769,
           "spark.sql.shuffle.partitions=8", "spark.executor.memory=4g", "spark.master=local",
           "spark.kubernetes.authenticate.driver.serviceAccountName=x", "spark.kubernetes.driver.volumes.a=1",
           "spark.a..b=1", "spark.=1", "spark.default.parallelism=8", "spark.sql.adaptive.enabled=true",
           "spark.sqlx=1", "spark.sql=1", "spark.kryo.registrator=x", "spark.hadoop.fs.s3a.endpoint=x",
           "spark.hadoop.yarn.x=1", "spark.sql.ansi.enabled=true\nspark.master=local", "notspark.x=1",
           "spark.ui.enabled=false\nspark.eventLog.enabled=true",
           "\n".join(f"K{i}=v" for i in range(100)), "\n".join(f"K{i}=v" for i in range(101)),
           "\n".join(f"spark.sql.k{i}=v" for i in range(200)), "\n".join(f"spark.sql.k{i}=v" for i in range(201)),
           "\n".join(f"K{i % 50}=v" for i in range(150))]  # a key given again counts once
ENUMS = ["python", "bash", "Python", "r", "sh"]
CLUSTERS = ["auto", "onprem", "burst", "onprem,regional", "onprem regional", "onprem, regional,burst", "mars",
            "onprem,onprem", "auto,onprem", "ONPREM", "onprem,,regional", "-onprem"]
GPU_COUNTS = ["", "0", "1", "2", "16", "17", "64", "65", "-1", "1.5", "abc"]
SCRIPTS = ["print(1)", "", "  \n\t", "\ufeff", "\x1c\x1d", "\u3000", "\x85", "\ud800", "x\udc00y", "😀",
           "x" * SCHEMA["max_script_bytes"], "x" * (SCHEMA["max_script_bytes"] + 1),
           "é" * (SCHEMA["max_script_bytes"] // 2), "é" * (SCHEMA["max_script_bytes"] // 2) + "x"]

TEXTS = {"string": STRINGS, "integer": INTEGERS, "quantity": QUANTITIES, "list": PACKAGES, "mapping": ENTRIES,
         "enum": ENUMS, "clusters": CLUSTERS}


def field_cases() -> list[dict[str, Any]]:
    """Every option but the kind, for every kind it applies to: its default, nothing, and the texts."""
    cases = []
    for opt in SCHEMA["options"]:
        if opt["name"] == "kind":
            continue
        for kind in opt["kinds"]:
            if opt["type"] == "gpus":
                raws = [{"type": t, "count": n} for t in ["", *opt["choices"], "amd-mi300x"] for n in GPU_COUNTS]
            else:
                raws = ["", "   ", *TEXTS[opt["type"]]]
            cases += [{"option": opt["name"], "kind": kind, "raw": raw} for raw in raws]
    return cases


# ---- the gateway's verdict ----------------------------------------------------------------

def submitted(body: dict[str, Any]) -> Any:
    """The spec the gateway makes of a submission's body, or None when it refuses it (4xx)."""
    try:
        spec, _, _ = SUBMITTER.validate(body)
    except (JobSpecError, GatewayError):
        return None
    return spec


def gateway(case: dict[str, Any], sent: dict[str, Any]) -> tuple[bool, Any]:
    """Whether the gateway takes a spec with the field as the dialog sends it; what it keeps."""
    name, kind = case["option"], case["kind"]
    body: dict[str, Any] = {"kind": kind, "script": "print(1)", "name": "rules"}
    if not sent["omitted"]:
        body[name] = sent["value"]
    if name == "cluster":  # placement reads it: its syntax, then the federation's names
        try:
            names = parse_cluster_field(body.get("cluster"))
        except JobSpecError:
            return False, None
        return submitted(body) is not None and all(n in SCHEMA["clusters"] for n in names or []), None
    job = submitted(body)
    if job is None:
        return False, None
    if name == "gpus" and job.gpus.type is not None and job.gpus.type not in [g["name"] for g in GPU_TYPES]:
        return False, None  # a type no member cluster has: nowhere to place it
    return True, job.to_dict()[name]


def test_the_dialog_refuses_exactly_what_the_gateway_refuses():
    node = shutil.which("node")
    typescript = LAB / "node_modules" / "typescript"
    assert node, "node is needed to run the Lab extension's checks (`make lab-test` needs it too)"
    assert typescript.is_dir(), f"{typescript} is missing: `make lab-test` installs the extension's packages"
    cases = field_cases()
    stdin = json.dumps({"path": str(LAB / "src" / "schema.ts"), "typescript": str(typescript), "schema": SCHEMA,
                        "fields": cases, "scripts": SCRIPTS})
    result = subprocess.run([node, "-e", RUN_DIALOG], input=stdin.encode("utf-8", "surrogatepass"),
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    dialog = json.loads(result.stdout)
    assert len(dialog["fields"]) == len(cases) > 1000
    differ = []
    for case, sent in zip(cases, dialog["fields"]):
        accepted, kept = gateway(case, sent)
        if accepted != (sent["error"] is None):
            differ.append(f"{case['option']}={case['raw']!r:.60} ({case['kind']}): dialog "
                          f"{sent['error'] or 'accepts'}, gateway {'accepts' if accepted else 'refuses'}")
        elif accepted and not sent["omitted"] and case["option"] != "cluster" and kept != sent["value"]:
            differ.append(f"{case['option']}={case['raw']!r:.60} ({case['kind']}): dialog sends "
                          f"{sent['value']!r:.60}, gateway keeps {kept!r:.60}")
    for script, error in zip(SCRIPTS, dialog["scripts"]):
        accepted = submitted({"kind": "job", "script": script}) is not None
        if accepted != (error is None):
            differ.append(f"script {script!r:.40}: dialog {error or 'accepts'}, gateway "
                          f"{'accepts' if accepted else 'refuses'}")
    assert not differ, f"{len(differ)} of {len(cases) + len(SCRIPTS)} differ:\n" + "\n".join(differ[:40])
