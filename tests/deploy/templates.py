"""The packaged CloudFormation templates of the three services, and what the tests read from them.

`make test` packages before pytest starts (`make packaged`: `python -m tests.deploy.templates`, which packages
only when a template is missing or older than a packaging input); the tests' fixture runs the same check, so
tests/deploy also works alone, and reuses a package that is up to date."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("file", "project", "scheduler")
STAGE = "dev"
REGION = "eu-west-1"
# Files whose change makes the packaged templates and artifacts stale.
PACKAGING_INPUTS = (
    "serverless-compose.yml",
    "pyproject.toml",
    "services/*/serverless.yml",
    "services/*/*_service/**/*.py",
    "services/*/openapi.json",
    "layer/imagestore/**/*.py",
    "deploy/*.sh",
    "deploy/*.py",
    "deploy/*.yaml",
    "deploy/*.yml",
    "deploy/*.js",
)


def template_path(service: str) -> Path:
    return ROOT / "services" / service / ".serverless" / "cloudformation-template-update-stack.json"


def is_stale() -> bool:
    """True when a template is missing or older than any packaging input."""
    paths = [template_path(s) for s in SERVICES]
    if not all(p.exists() for p in paths):
        return True
    built = min(p.stat().st_mtime for p in paths)
    return any(f.stat().st_mtime > built for pattern in PACKAGING_INPUTS for f in ROOT.glob(pattern))


def ensure_packaged() -> str | None:
    """Run deploy/package.sh when the templates are missing or stale; a reason to skip, or None."""
    lock_path = ROOT / "build" / ".package.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:  # one packaging at a time, also across xdist workers
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_stale():
            return None
        if not (shutil.which("node") and shutil.which("npm")):
            return "node and npm are needed to package the services (deploy/package.sh)"
        result = subprocess.run(
            ["bash", str(ROOT / "deploy" / "package.sh")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)},
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"deploy/package.sh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return None


@dataclass(frozen=True)
class Template:
    """One packaged service's CloudFormation template."""

    service: str
    body: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Lambda::Function")


def load_template(service: str) -> Template:
    return Template(service, json.loads(template_path(service).read_text()))


def render(value: Any) -> Any:
    """A resource expression as a comparable string: Fn::Sub with this stage's pseudo parameters
    filled in (the account stays ${AWS::AccountId}), GetAtt as 'GetAtt:Name.Attr', Ref as 'Ref:Name'."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Fn::Sub" and isinstance(arg, str):
            return arg.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", REGION)
        if key == "Fn::GetAtt":
            return "GetAtt:" + ".".join(arg if isinstance(arg, list) else arg.split(".", 1))
        if key == "Ref":
            return f"Ref:{arg}"
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(render(p)) for p in parts)
    raise ValueError(f"cannot render {value!r}")


def role_statements(template: Template, role_name: str) -> Iterator[dict[str, Any]]:
    role = template.resources[role_name]
    for policy in role["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def main() -> int:
    """`make packaged`: package when stale, say which it was."""
    if not is_stale():
        print("packaged: the templates in services/*/.serverless are up to date")
        return 0
    print("packaged: templates missing or older than their inputs; running deploy/package.sh", flush=True)
    reason = ensure_packaged()
    if reason:
        print(f"packaged: {reason}", file=sys.stderr)
        return 1
    print("packaged: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
