"""Views over one Kubernetes object, shaped the way Gatekeeper sees it.

A controller is judged through the mock Pod that Gatekeeper's expansion builds
(open-policy-agent/gatekeeper ``pkg/expansion``): the pod template's spec, labels and
annotations, the controller's namespace, and the name ``<controller>-pod``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from rules._kinds import template_path
from rules._model import Resource
from rules._yaml import Path

ALL_LISTS = ("containers", "initContainers", "ephemeralContainers")
REGULAR_LISTS = ("containers", "initContainers")


def get(value: Any, *keys: str | int) -> Any:
    """Follow keys through dicts and lists; None where anything is missing or of the wrong type."""
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


T = TypeVar("T")


class _once(Generic[T]):
    """``functools.cached_property`` without its lock (Python 3.11 takes an RLock on every first read).

    The value is stored in the instance's ``__dict__``, which then answers every later read
    (a non-data descriptor): views are built once per object and read by up to 13 rules.
    """

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


def as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Container:
    name: str
    data: dict[Any, Any]
    path: Path  # path of the container item inside the document
    list_name: str

    @property
    def image(self) -> Any:
        return self.data.get("image")

    @_once
    def security(self) -> dict[Any, Any]:
        """``securityContext`` (an empty mapping when absent or not a mapping): ``get("securityContext", k)``
        is ``security.get(k)`` for a string ``k``."""
        return as_dict(self.data.get("securityContext"))

    def get(self, *keys: str | int) -> Any:
        return get(self.data, *keys)

    def has(self, *keys: str) -> bool:
        """True when the last key is present (even with a false or zero value)."""
        parent = get(self.data, *keys[:-1])
        return isinstance(parent, dict) and keys[-1] in parent and parent[keys[-1]] is not None


@dataclass(frozen=True)
class ObjectView:
    """One Kubernetes object of a document (a ``kind: List`` item has a non-empty ``base``)."""

    obj: dict[Any, Any]
    base: Path
    kind: str
    namespace: str
    resource: Resource

    @property
    def metadata(self) -> dict[Any, Any]:
        return as_dict(self.obj.get("metadata"))


@dataclass(frozen=True)
class PodView(ObjectView):
    """The mock Pod of a workload (or the Pod itself)."""

    pod_name: str
    template: Path  # path of the pod (template) object: () for a Pod, ("spec","template") ...
    pod: dict[Any, Any]  # the pod (template) mapping: metadata + spec

    # Views are built once per object and read by 13 rules: the derived values are computed once.
    @_once
    def spec(self) -> dict[Any, Any]:
        return as_dict(self.pod.get("spec"))

    @_once
    def spec_path(self) -> Path:
        return (*self.base, *self.template, "spec")

    @_once
    def meta_path(self) -> Path:
        return (*self.base, *self.template, "metadata")

    @property
    def labels(self) -> dict[Any, Any]:
        return as_dict(get(self.pod, "metadata", "labels"))

    @_once
    def annotations(self) -> dict[Any, Any]:
        return as_dict(get(self.pod, "metadata", "annotations"))

    @_once
    def windows(self) -> bool:
        """Azure's templates skip pods whose ``spec.nodeSelector["kubernetes.io/os"]`` is windows."""
        return get(self.spec, "nodeSelector", "kubernetes.io/os") == "windows"

    @_once
    def _containers(self) -> dict[str, tuple[Container, ...]]:
        spec, spec_path = self.spec, self.spec_path
        out: dict[str, tuple[Container, ...]] = {}
        for list_name in ALL_LISTS:
            items = spec.get(list_name)
            if not items or not isinstance(items, list):
                out[list_name] = ()
                continue
            made = []
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    name = item.get("name")
                    # with ``security`` filled in, as view() does for the pod: most container rules read it
                    made.append(_frozen(Container, {"name": str(name) if name is not None else "", "data": item,
                                                    "path": (*spec_path, list_name, index), "list_name": list_name,
                                                    "security": as_dict(item.get("securityContext"))}))
            out[list_name] = tuple(made)
        # the two selections the rules ask for, filled in at once (``containers`` would build them the same way)
        regular = out["containers"] + out["initContainers"]
        self._selections.update({REGULAR_LISTS: regular, ALL_LISTS: regular + out["ephemeralContainers"]})
        return out

    @_once
    def _selections(self) -> dict[tuple[str, ...], tuple[Container, ...]]:
        return {}

    def containers(self, lists: tuple[str, ...] = ALL_LISTS) -> tuple[Container, ...]:
        """The containers of these lists, in order (one tuple per selection, remembered)."""
        selections = self._selections
        found = selections.get(lists)
        if found is None:
            by_list = self._containers
            parts = [part for part in [by_list[list_name] for list_name in lists] if part]
            found = parts[0] if len(parts) == 1 else tuple(c for part in parts for c in part)
            selections[lists] = found
        return found


@dataclass(frozen=True)
class ServiceView(ObjectView):
    @property
    def spec(self) -> dict[Any, Any]:
        return as_dict(self.obj.get("spec"))

    @property
    def name(self) -> str:
        return self.resource.name


def view(obj: dict[Any, Any], base: Path, default_namespace: str) -> ObjectView:
    """Build the view for a recognised kind (the caller checked ``is_known``)."""
    kind = str(obj.get("kind"))
    meta = as_dict(obj.get("metadata"))
    name = meta.get("name") if meta.get("name") is not None else meta.get("generateName")
    name = str(name) if name is not None else "<unnamed>"
    ns_value = meta.get("namespace")
    namespace = str(ns_value) if ns_value not in (None, "") else default_namespace
    resource = _frozen(Resource, {"kind": kind, "namespace": namespace, "name": name})
    if kind == "Service":
        return ServiceView(obj, base, kind, namespace, resource)
    tpath = template_path(kind)
    if tpath is None:
        pod_name, tpath, pod = name, (), obj
    else:
        pod_name, pod = f"{name}-pod".lower(), as_dict(get(obj, *tpath))
    # with the values nearly every pod rule reads (PodView.spec, spec_path and windows) filled in
    # at once: what those once-properties would store on first read, and none of them can fail
    spec = as_dict(pod.get("spec"))
    return _frozen(PodView, {"obj": obj, "base": base, "kind": kind, "namespace": namespace, "resource": resource,
                             "pod_name": pod_name, "template": tpath, "pod": pod, "spec": spec,
                             "spec_path": (*base, *tpath, "spec"),
                             "windows": get(spec, "nodeSelector", "kubernetes.io/os") == "windows"})


_new = object.__new__
_setattr = object.__setattr__


def _frozen(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` for a frozen dataclass without slots, ``__post_init__`` or defaults: what its
    ``__init__`` stores (the fields in the instance ``__dict__``), without one ``object.__setattr__``
    per field. Views are built for every object and container of a scan."""
    made = _new(cls)
    _setattr(made, "__dict__", values)
    return made


for _cls, _names in ((Container, ("name", "data", "path", "list_name")), (Resource, ("kind", "namespace", "name")),
                     (PodView, ("obj", "base", "kind", "namespace", "resource", "pod_name", "template", "pod"))):
    if (tuple(f.name for f in fields(_cls)) != _names or hasattr(_cls, "__slots__")
            or hasattr(_cls, "__post_init__")):  # pragma: no cover - guards _frozen's callers
        raise RuntimeError(f"{_cls.__name__} changed: its construction in rules._resource must follow")
