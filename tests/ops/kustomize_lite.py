"""A small Kustomize for the tests: exactly the features deploy/k8s/ uses, nothing more.

Used when ``kubectl`` is absent; when it is present the tests also check that this
builder and ``kubectl kustomize`` produce the same resources. Any kustomization field
or patch form outside the supported set raises ``UnsupportedKustomization`` rather than
being ignored, so the builder cannot silently drift from what kubectl would render.

Supported: ``resources`` (files and directories), ``namespace``, ``labels`` (pairs with
``includeSelectors``/``includeTemplates``), ``images`` (``newName``/``newTag``) and
``patches`` given by ``path``, applied as strategic merge patches to the resource of the
same kind and name.
"""

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

_SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
# Merge keys of the associative lists our patches touch (Kubernetes' patchMergeKey).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
# Built-in kinds whose pod template gets images; kustomize's image transformer also
# walks these paths.
_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


class UnsupportedKustomization(Exception):
    """The kustomization uses a feature this builder does not implement."""


def build(directory: Path) -> list[Resource]:
    """Render the kustomization in ``directory`` to a list of resources."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(build(path))
        else:
            resources.extend(_load_all(path))
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise UnsupportedKustomization(f"patch form {sorted(patch_entry)}")
        for patch in _load_all(directory / patch_entry["path"]):
            _apply_patch(resources, patch)
    if "namespace" in kustomization:
        for resource in resources:
            resource["metadata"]["namespace"] = kustomization["namespace"]
    for label_set in kustomization.get("labels", []):
        _apply_labels(resources, label_set)
    for image in kustomization.get("images", []):
        _apply_image(resources, image)
    return resources


def _load_all(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _apply_patch(resources: list[Resource], patch: Resource) -> None:
    name = patch["metadata"]["name"]
    targets = [r for r in resources if r["kind"] == patch["kind"] and r["metadata"]["name"] == name]
    if len(targets) != 1:
        raise UnsupportedKustomization(f"patch {patch['kind']}/{name} matches {len(targets)}")
    merged = strategic_merge(targets[0], patch)
    targets[0].clear()
    targets[0].update(merged)


def strategic_merge(base: Any, patch: Any, *, field: str | None = None) -> Any:
    """Merge ``patch`` into ``base`` as a Kubernetes strategic merge patch would.

    Maps merge recursively (a null value deletes the key); lists named in
    ``_MERGE_KEYS`` merge item by item on their key, patch-only items first (kustomize's
    order); every other list is replaced.
    """
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if isinstance(key, str) and key.startswith("$"):
                raise UnsupportedKustomization(f"directive {key}")
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, field=key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in _MERGE_KEYS:
        key = _MERGE_KEYS[field]
        by_key = {item[key]: item for item in patch}
        merged = [
            strategic_merge(item, by_key[item[key]]) if item[key] in by_key else item
            for item in base
        ]
        existing = {item[key] for item in base}
        added = [copy.deepcopy(item) for item in patch if item[key] not in existing]
        return added + merged
    return copy.deepcopy(patch)


def _apply_labels(resources: list[Resource], label_set: dict[str, Any]) -> None:
    pairs = label_set["pairs"]
    if label_set.get("includeSelectors") or label_set.get("includeTemplates"):
        raise UnsupportedKustomization("labels with selectors or templates")
    for resource in resources:
        resource["metadata"].setdefault("labels", {}).update(pairs)


def _apply_image(resources: list[Resource], image: dict[str, str]) -> None:
    for resource in resources:
        if resource["kind"] not in _WORKLOAD_KINDS:
            continue
        spec = resource["spec"]["template"]["spec"]
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            name, _, tag = container["image"].partition(":")
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
