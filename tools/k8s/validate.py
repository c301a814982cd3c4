#!/usr/bin/env python3
"""Offline validation of rendered Kubernetes manifests (run by tools/k8s/validate.sh in its venv).

    validate.py --kubernetes-version 1.34.0 [--crd FILE]... RENDERED.yaml...

Every object must validate, else the exit status is 1:
- built-in kinds against kubernetes-validate's bundled *strict* JSON schemas of that Kubernetes
  version (unknown fields are errors);
- custom resources against the openAPIV3Schema of a CRD given with --crd (apiextensions.k8s.io/v1
  CustomResourceDefinition YAML), made strict the same way (objects with `properties` get
  additionalProperties: false unless x-kubernetes-preserve-unknown-fields), metadata checked as
  ObjectMeta. CEL rules (x-kubernetes-validations) are not evaluated;
- an object of a kind with no schema at all is an error, never a silent pass;
- references inside one rendered overlay resolve: ConfigMaps/Secrets (and their keys) used by pod
  templates, Service/PDB selectors, HPA targets, GRPCRoute backends;
- Tandem's own rules: every container has CPU and memory requests and limits, runs non-root
  without privilege escalation on a read-only root filesystem; every gRPC service Deployment has
  gRPC startup, liveness and readiness probes on port 50051.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from typing import Any, Iterator

import importlib_resources
import jsonschema
import yaml
from referencing import Registry, Resource

DEFINITIONS_ID = 'https://kubernetes.io/api/_definitions.json'
OBJECT_META = {'$ref': DEFINITIONS_ID + '#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'}
WORKLOADS = {'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'}


def group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition('/')
    return group, version


def describe(obj: dict) -> str:
    meta = obj.get('metadata') or {}
    where = f"{meta.get('namespace')}/" if meta.get('namespace') else ''
    return f"{obj.get('kind')} {where}{meta.get('name')}"


class Schemas:
    """Validators by (group, version, kind): Kubernetes' bundled strict schemas, then CRDs."""

    def __init__(self, kubernetes_version: str, crd_files: list[str]):
        version = kubernetes_version.lstrip('v')
        if version.count('.') == 1:
            version += '.0'
        root = importlib_resources.files('kubernetes_validate').joinpath('kubernetes-json-schema')
        self.dir = root.joinpath(f'v{version}-local-strict')
        if not self.dir.joinpath('_definitions.json').is_file():
            available = sorted(p.name for p in root.iterdir() if p.name.endswith('-local-strict'))
            raise SystemExit(f'no bundled schemas for Kubernetes {version}; available: {", ".join(available)}')
        self.version = version
        definitions = json.loads(self.dir.joinpath('_definitions.json').read_text())
        self.registry = Resource.from_contents(definitions) @ Registry()
        self.validators: dict[tuple[str, str, str], jsonschema.protocols.Validator | None] = {}
        self.crds: dict[tuple[str, str, str], tuple[dict, str]] = {}
        for path in crd_files:
            self._load_crds(path)

    def _load_crds(self, path: str) -> None:
        with open(path) as handle:
            for crd in yaml.safe_load_all(handle):
                if not crd or crd.get('kind') != 'CustomResourceDefinition':
                    continue
                spec = crd['spec']
                for entry in spec['versions']:
                    if not entry.get('served', True):
                        continue
                    schema = entry['schema']['openAPIV3Schema']
                    key = (spec['group'], entry['name'], spec['names']['kind'])
                    self.crds[key] = (schema, path)

    def crd_source(self, key: tuple[str, str, str]) -> str | None:
        return self.crds[key][1] if key in self.crds else None

    def validator(self, obj: dict) -> jsonschema.protocols.Validator | None:
        group, version = group_version(str(obj.get('apiVersion', '')))
        kind = str(obj.get('kind', ''))
        key = (group, version, kind)
        if key not in self.validators:
            self.validators[key] = self._builtin(key) or self._custom(key)
        return self.validators[key]

    def _builtin(self, key: tuple[str, str, str]) -> jsonschema.protocols.Validator | None:
        group, version, kind = key
        prefix = group.split('.')[0]
        name = f"{kind.lower()}-{prefix + '-' if prefix else ''}{version}.json"
        file = self.dir.joinpath(name)
        if not file.is_file():
            return None
        schema = json.loads(file.read_text())
        gvks = schema.get('x-kubernetes-group-version-kind') or []
        if not any(g.get('group', '') == group and g['version'] == version and g['kind'] == kind for g in gvks):
            return None  # same file name, another API group (a CRD whose group starts alike)
        return jsonschema.Draft202012Validator(schema, registry=self.registry)

    def _custom(self, key: tuple[str, str, str]) -> jsonschema.protocols.Validator | None:
        if key not in self.crds:
            return None
        group, version, kind = key
        schema = strict_openapi(copy.deepcopy(self.crds[key][0]))
        properties = schema.setdefault('properties', {})
        properties['apiVersion'] = {'type': 'string', 'enum': [f'{group}/{version}']}
        properties['kind'] = {'type': 'string', 'enum': [kind]}
        properties['metadata'] = OBJECT_META
        schema['required'] = sorted(set(schema.get('required', [])) | {'apiVersion', 'kind', 'metadata'})
        return jsonschema.Draft202012Validator(schema, registry=self.registry)


def strict_openapi(schema: Any) -> Any:
    """A CRD's OpenAPI v3 schema as a strict JSON schema (what the API server would prune is an error)."""
    if isinstance(schema, list):
        return [strict_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_openapi(v) for k, v in schema.items() if k not in ('properties', 'additionalProperties')}
    if 'properties' in schema:
        out['properties'] = {k: strict_openapi(v) for k, v in schema['properties'].items()}
    if isinstance(schema.get('additionalProperties'), dict):
        out['additionalProperties'] = strict_openapi(schema['additionalProperties'])
    elif 'additionalProperties' in schema:
        out['additionalProperties'] = schema['additionalProperties']
    elif 'properties' in schema and not schema.get('x-kubernetes-preserve-unknown-fields'):
        out['additionalProperties'] = False
    if schema.get('x-kubernetes-int-or-string'):
        out.pop('type', None)
        out['anyOf'] = [{'type': 'integer'}, {'type': 'string'}]
    if schema.get('nullable') and 'type' in out:
        out['type'] = [out['type'], 'null']
    return out


def pod_spec(obj: dict) -> dict | None:
    if obj.get('kind') in WORKLOADS:
        return (((obj.get('spec') or {}).get('template') or {}).get('spec')) or {}
    if obj.get('kind') == 'CronJob':
        return obj['spec']['jobTemplate']['spec']['template']['spec']
    return None


def pod_labels(obj: dict) -> dict:
    return ((((obj.get('spec') or {}).get('template') or {}).get('metadata') or {}).get('labels')) or {}


def containers(spec: dict) -> Iterator[dict]:
    yield from spec.get('initContainers') or []
    yield from spec.get('containers') or []


def selects(selector: dict, labels: dict) -> bool:
    """A Service's plain selector map or a LabelSelector (matchLabels, matchExpressions)."""
    if 'matchLabels' in selector or 'matchExpressions' in selector:
        match, expressions = selector.get('matchLabels') or {}, selector.get('matchExpressions') or []
    else:
        match, expressions = selector, []
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expression in expressions:
        value, values = labels.get(expression['key']), expression.get('values') or []
        op = expression['operator']
        if (op == 'In' and value not in values) or (op == 'NotIn' and value in values):
            return False
        if (op == 'Exists' and value is None) or (op == 'DoesNotExist' and value is not None):
            return False
    return True


def check_references(objects: list[dict]) -> list[str]:
    errors: list[str] = []
    by_key: dict[tuple[str, str, str], dict] = {}
    for obj in objects:
        meta = obj.get('metadata') or {}
        key = (obj.get('kind'), meta.get('namespace', ''), meta.get('name'))
        if key in by_key:
            errors.append(f'{describe(obj)}: defined twice')
        by_key[key] = obj

    def data_keys(kind: str, namespace: str, name: str) -> set[str] | None:
        target = by_key.get((kind, namespace, name))
        if target is None:
            return None
        return set(target.get('data') or {}) | set(target.get('stringData') or {}) | set(target.get('binaryData') or {})

    workloads = [o for o in objects if pod_spec(o) is not None]
    for obj in workloads:
        namespace = (obj.get('metadata') or {}).get('namespace', '')
        spec = pod_spec(obj)
        refs: list[tuple[str, str, str | None, bool]] = []  # kind, name, key, optional
        for container in containers(spec):
            for source in container.get('envFrom') or []:
                for field, kind in (('configMapRef', 'ConfigMap'), ('secretRef', 'Secret')):
                    if field in source:
                        refs.append((kind, source[field]['name'], None, bool(source[field].get('optional'))))
            for env in container.get('env') or []:
                value_from = env.get('valueFrom') or {}
                for field, kind in (('configMapKeyRef', 'ConfigMap'), ('secretKeyRef', 'Secret')):
                    if field in value_from:
                        ref = value_from[field]
                        refs.append((kind, ref['name'], ref['key'], bool(ref.get('optional'))))
        for volume in spec.get('volumes') or []:
            for field, kind, name_field in (('configMap', 'ConfigMap', 'name'), ('secret', 'Secret', 'secretName')):
                if field in volume:
                    source = volume[field]
                    optional = bool(source.get('optional'))
                    refs.append((kind, source[name_field], None, optional))
                    # Projected keys (items) must exist, or the pod never starts.
                    refs.extend((kind, source[name_field], item['key'], optional) for item in source.get('items') or [])
        for kind, name, key, optional in refs:
            keys = data_keys(kind, namespace, name)
            if keys is None and not optional:
                errors.append(f'{describe(obj)}: {kind} {name} is not in the rendered output')
            elif keys is not None and key is not None and key not in keys and not optional:
                errors.append(f'{describe(obj)}: {kind} {name} has no key {key}')

    def matched(namespace: str, selector: dict) -> bool:
        return any(
            (w.get('metadata') or {}).get('namespace', '') == namespace and selects(selector, pod_labels(w))
            for w in workloads
        )

    for obj in objects:
        meta = obj.get('metadata') or {}
        namespace, spec = meta.get('namespace', ''), obj.get('spec') or {}
        kind = obj.get('kind')
        if kind == 'Service' and spec.get('selector') and not matched(namespace, spec['selector']):
            errors.append(f'{describe(obj)}: its selector matches no pod template')
        if kind == 'PodDisruptionBudget' and not matched(namespace, spec.get('selector') or {}):
            errors.append(f'{describe(obj)}: its selector matches no pod template')
        if kind == 'HorizontalPodAutoscaler':
            target = spec.get('scaleTargetRef') or {}
            if (target.get('kind'), namespace, target.get('name')) not in by_key:
                errors.append(f"{describe(obj)}: scale target {target.get('kind')} {target.get('name')} is not in the rendered output")
        if kind in ('GRPCRoute', 'HTTPRoute'):
            for rule in spec.get('rules') or []:
                for backend in rule.get('backendRefs') or []:
                    if backend.get('kind', 'Service') != 'Service' or backend.get('group', ''):
                        continue
                    service = by_key.get(('Service', backend.get('namespace', namespace), backend['name']))
                    if service is None:
                        errors.append(f"{describe(obj)}: backend Service {backend['name']} is not in the rendered output")
                    elif backend.get('port') not in [p.get('port') for p in service['spec'].get('ports') or []]:
                        errors.append(f"{describe(obj)}: Service {backend['name']} has no port {backend.get('port')}")
    return errors


def check_tandem_rules(objects: list[dict]) -> list[str]:
    errors: list[str] = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        pod_security = spec.get('securityContext') or {}
        for container in containers(spec):
            where = f"{describe(obj)} container {container.get('name')}"
            resources = container.get('resources') or {}
            for bound in ('requests', 'limits'):
                for resource in ('cpu', 'memory'):
                    if resource not in (resources.get(bound) or {}):
                        errors.append(f'{where}: no {resource} {bound[:-1]}')
            security = container.get('securityContext') or {}
            if not security.get('runAsNonRoot', pod_security.get('runAsNonRoot')):
                errors.append(f'{where}: runAsNonRoot is not set')
            if security.get('allowPrivilegeEscalation') is not False:
                errors.append(f'{where}: allowPrivilegeEscalation is not false')
            if security.get('readOnlyRootFilesystem') is not True:
                errors.append(f'{where}: readOnlyRootFilesystem is not true')
        if obj.get('kind') == 'Deployment' and pod_labels(obj).get('app.kubernetes.io/component') == 'grpc-service':
            for container in spec.get('containers') or []:
                for probe in ('startupProbe', 'livenessProbe', 'readinessProbe'):
                    grpc = (container.get(probe) or {}).get('grpc') or {}
                    if grpc.get('port') != 50051:
                        errors.append(f"{describe(obj)} container {container.get('name')}: no gRPC {probe} on 50051")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--kubernetes-version', required=True)
    parser.add_argument('--crd', action='append', default=[], help='a CRD YAML file (repeatable)')
    parser.add_argument('files', nargs='+', help='rendered manifests (multi-document YAML)')
    args = parser.parse_args()
    schemas = Schemas(args.kubernetes_version, args.crd)

    status = 0
    for path in args.files:
        with open(path) as handle:
            try:
                objects = [o for o in yaml.safe_load_all(handle) if o]
            except yaml.YAMLError as error:
                print(f'ERROR {path}: not YAML: {error}')
                status = 1
                continue
        errors: list[str] = []
        custom: set[str] = set()
        for obj in objects:
            if not isinstance(obj, dict) or 'apiVersion' not in obj or 'kind' not in obj:
                errors.append(f'a document without apiVersion and kind: {str(obj)[:80]}')
                continue
            validator = schemas.validator(obj)
            if validator is None:
                errors.append(f"{describe(obj)}: no schema for {obj['apiVersion']} {obj['kind']} "
                              f'(not a Kubernetes {schemas.version} kind, no CRD given)')
                continue
            source = schemas.crd_source((*group_version(obj['apiVersion']), obj['kind']))
            if source:
                custom.add(f"{obj['kind']} ({source.rsplit('/', 1)[-1]})")
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
                location = '.'.join(str(part) for part in error.absolute_path) or '(root)'
                message = re.sub(r'\s+', ' ', error.message)
                if len(message) > 300:
                    message = message[:300] + '...'
                errors.append(f'{describe(obj)}: {location}: {message}')
        errors += check_references(objects)
        errors += check_tandem_rules(objects)
        if errors:
            status = 1
            for error in errors:
                print(f'ERROR {path}: {error}')
            print(f'FAIL  {path}: {len(errors)} error(s) in {len(objects)} objects')
        else:
            extra = f"; custom resources: {', '.join(sorted(custom))}" if custom else ''
            print(f'OK    {path}: {len(objects)} objects valid against Kubernetes {schemas.version} (strict){extra}')
    return status


if __name__ == '__main__':
    sys.exit(main())
