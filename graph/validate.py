"""Validation: check a workflow against the registry before anything runs.

Every problem is collected and reported at once, each naming the node id, the field and a fix.
The result of a successful validation is a ``CompiledGraph``: resolved specs, checked params,
typed links (direct or mapped) and a topological order, which the executor runs as is.

``compile_workflow`` runs these passes in order over a shared ``_Compilation``; each records what
later passes need, and none stops the others, so one mistake never hides the next:

1. ``_resolve_node_types``: every node's type is installed and its saved version usable (params
   saved by an older version are upgraded); nodes that pass go on to the later checks.
2. ``_check_edges``: both ends of each edge exist and have the named ports; no self-loops. Good
   edges form the dependency graph and record what feeds each input.
3. ``_check_one_edge_per_input``: an input takes at most one edge.
4. ``_check_params_and_inputs``: per node, param names, values and required params (unwired
   params become their checked values, defaults filled in), then required inputs.
5. ``_check_cycles``: one issue per cycle, spelled out.
6. ``_order_nodes``: the run order of the acyclic part.
7. ``_check_types_and_link``: in run order, bind type variables, check each wired type fits
   (directly or mapped over a list), and record links and resolved port types.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from . import types as t
from .errors import Issue, Words, WorkflowError
from .node import NodeSpec, PortSpec
from .registry import Registry, default_registry
from .workflow import Edge, NodeEntry, Workflow


@dataclass(frozen=True)
class Link:
    src: str
    src_port: str
    dst: str
    dst_port: str
    mode: str  # "direct" | "map"


@dataclass
class CompiledNode:
    id: str
    spec: NodeSpec
    params: dict[str, Any]  # checked values of unwired params, defaults filled in
    links: dict[str, Link] = field(default_factory=dict)  # by input/param name
    out_types: dict[str, t.PortType] = field(default_factory=dict)  # after mapping
    in_types: dict[str, t.PortType] = field(default_factory=dict)  # declared, type vars bound
    maps: bool = False


@dataclass
class CompiledGraph:
    workflow: Workflow
    nodes: dict[str, CompiledNode]
    order: list[str]
    dag: nx.DiGraph

    targets: tuple[str, ...] = ()  # set by restrict(): these nodes are the results

    def outputs(self) -> list[str]:
        """The nodes whose results are the workflow's results: the targets when the run was restricted
        to some (``restrict``), else those flagged ``output``, else the sinks."""
        if self.targets:
            return list(self.targets)
        flagged = [n for n in self.order if self.nodes[n].spec.output]
        return flagged or [n for n in self.order if self.dag.out_degree(n) == 0]

    def restrict(self, targets: "list[str] | tuple[str, ...]") -> "CompiledGraph":
        """Only what ``targets`` (node ids, or ``node.port``) need: those nodes and their ancestors,
        with the targets as the results. Raises WorkflowError naming every unknown target."""
        wanted: list[str] = []
        issues = []
        for ref in targets:
            node = str(ref).split(".", 1)[0]
            if node not in self.nodes:
                close = difflib.get_close_matches(node, list(self.nodes), n=1)
                issues.append(Issue(f"target {ref!r} names no node of this workflow", field="targets",
                                    fix=f"did you mean {close[0]!r}?" if close else
                                    f"nodes are: {', '.join(self.order)}", code="target"))
            elif node not in wanted:
                wanted.append(node)
        if issues:
            raise WorkflowError(issues, source=self.workflow.source)
        if not wanted:
            return self
        keep = set(wanted).union(*(nx.ancestors(self.dag, n) for n in wanted))
        order = [n for n in self.order if n in keep]
        return CompiledGraph(self.workflow, {n: self.nodes[n] for n in order}, order,
                             self.dag.subgraph(order).copy(), tuple(n for n in order if n in wanted))

    def downstream(self, node: str) -> set[str]:
        return nx.descendants(self.dag, node)


def validate(wf: Workflow, registry: Registry | None = None) -> list[Issue]:
    """Every problem in ``wf`` (an empty list when it is valid)."""
    try:
        compile_workflow(wf, registry)
    except WorkflowError as e:
        return e.issues
    return []


def compile_workflow(wf: Workflow, registry: Registry | None = None) -> CompiledGraph:
    """Validate ``wf`` and resolve it for execution; raise ``WorkflowError`` listing every problem."""
    registry = registry if registry is not None else default_registry()
    ran, bypass_issues = _without_bypassed(wf, registry)
    c = _Compilation(ran, registry, list(bypass_issues))
    _resolve_node_types(c)
    _check_edges(c)
    _check_one_edge_per_input(c)
    _check_params_and_inputs(c)
    _check_cycles(c)
    _order_nodes(c)
    _check_types_and_link(c)
    if c.issues:
        raise WorkflowError(c.issues, source=wf.source)
    return CompiledGraph(wf, c.nodes, c.order, c.dag)  # the workflow as written (a video embeds it)


def _without_bypassed(wf: Workflow, registry: Registry) -> tuple[Workflow, list[Issue]]:
    """The workflow as it runs: bypassed nodes left out, and what read one of their outputs reads
    instead what was wired into the node's input of the same type (a bypassed Upscale passes its
    video on untouched). Bypassed nodes in a row pass through each other."""
    bypassed = {n for n, e in wf.nodes.items() if e.bypass}
    if not bypassed:
        return wf, []
    into = {(e.target_node, e.target_port): e.source for e in wf.edges}

    def passed_on(node: str, port: str, seen: frozenset) -> tuple[str | None, t.PortType | None]:
        spec = registry.get(wf.nodes[node].type)
        out = spec.outputs.get(port) if spec is not None else None
        if spec is None or out is None:
            return None, None
        for name, p in spec.ports_in().items():
            src = into.get((node, name))
            if p.type == out.type and src is not None:
                src_node, src_port = src.split(".", 1)
                if src_node in bypassed and src_node not in seen:
                    return passed_on(src_node, src_port, seen | {node})
                return src, out.type
        return None, out.type

    issues: list[Issue] = []
    edges: list[Edge] = []
    for e in wf.edges:
        if e.target_node in bypassed:
            continue
        if e.source_node not in bypassed:
            edges.append(e)
            continue
        src, kind = passed_on(e.source_node, e.source_port, frozenset())
        if src is None:
            message = (_Said("bypassed_kind", "{node} is bypassed and has no wired {kind} input to pass on",
                             node=e.source_node, kind=kind) if kind is not None
                       else _Said("bypassed_port", "{node} is bypassed and has no wired input for {port} to pass "
                                  "on", node=e.source_node, port=e.source_port))
            issues.append(_issue(message, e.target_node, e.target_port,
                                 _Said("bypassed_fix", "turn bypass off on {node}, or wire {target} from another "
                                       "node", node=e.source_node, target=e.target), "bypassed"))
            continue
        edges.append(Edge.model_validate({"from": src, "to": e.target}))
    ran = wf.model_copy(update={"nodes": {n: x for n, x in wf.nodes.items() if n not in bypassed},
                                "edges": edges})
    ran._source = wf.source
    return ran, issues


@dataclass
class _Compilation:
    """What the passes share: each reads what earlier ones found and adds issues of its own."""

    wf: Workflow
    registry: Registry
    issues: list[Issue] = field(default_factory=list)
    nodes: dict[str, CompiledNode] = field(default_factory=dict)  # nodes whose type is usable
    incoming: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (node, input) -> sources
    dag: nx.DiGraph = field(default_factory=nx.DiGraph)
    in_cycle: set[str] = field(default_factory=set)
    order: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# 1. node types and versions


def _resolve_node_types(c: _Compilation) -> None:
    """Each node's type is installed and its saved version usable; old params are upgraded."""
    known = c.registry.types()
    for node_id, entry in c.wf.nodes.items():
        spec = c.registry.get(entry.type)
        if spec is None:
            close = difflib.get_close_matches(entry.type, known, n=1)
            fix = (_Said("did_you_mean", "did you mean {name}?", name=repr(close[0])) if close
                   else _Said("install_pack", "install the node pack that provides it (see `reelgraph nodes`)"))
            c.issues.append(_issue(_Said("unknown_type", "unknown node type {type}", type=repr(entry.type)),
                                   node_id, "type", fix, "unknown_type"))
            continue
        params = _params_for_installed_version(c, node_id, entry, spec)
        if params is not None:
            c.nodes[node_id] = CompiledNode(node_id, spec, params)


def _params_for_installed_version(c: _Compilation, node_id: str, entry: NodeEntry,
                                  spec: NodeSpec) -> dict[str, Any] | None:
    """The node's params as the installed version reads them; None when the node cannot be used."""
    params = dict(entry.params)
    if not entry.version or entry.version == spec.version:
        return params
    saved, have = _major(entry.version), _major(spec.version)
    if saved is None:  # reported, but the node is still checked as if saved with this version
        c.issues.append(Issue(f"version {entry.version!r} is not a semantic version", node_id,
                              "version", f'write "{spec.version}"', "bad_value"))
        return params
    if have is not None and saved > have:
        c.issues.append(Issue(f"saved with {entry.type} {entry.version}, but {spec.version} is "
                              "installed", node_id, "version",
                              f"upgrade the pack that provides {entry.type}", "version"))
        return None
    try:
        return spec.cls.upgrade_params(params, entry.version)
    except Exception as e:  # noqa: BLE001 — a pack's upgrade code failing is a problem to report
        c.issues.append(Issue(f"cannot upgrade params from {entry.version}: {e}", node_id,
                              "version", "re-create this node in the editor", "version"))
        return None


# ----------------------------------------------------------------------------------------------
# 2. edges


def _check_edges(c: _Compilation) -> None:
    """Both ends of every edge exist and have the named ports; no edge loops back to its node.
    Good edges become the dependency graph and the record of what feeds each input."""
    c.dag.add_nodes_from(c.wf.nodes)
    for i, edge in enumerate(c.wf.edges):
        ends_ok = [_check_edge_end(c, i, edge, role) for role in ("from", "to")]
        ok = all(ends_ok)
        if edge.source_node == edge.target_node and edge.source_node in c.wf.nodes:
            c.issues.append(_issue(_Said("self_edge", "edge {source} -> {target} connects the node to itself",
                                         source=edge.source, target=edge.target),
                                   edge.source_node, edge.target_port, _Said("remove_edge", "remove the edge"),
                                   "cycle"))
            ok = False
        if ok:
            c.incoming.setdefault((edge.target_node, edge.target_port), []).append(edge.source)
            c.dag.add_edge(edge.source_node, edge.target_node)


def _check_edge_end(c: _Compilation, i: int, edge: Edge, role: str) -> bool:
    """One end of edge ``i`` (``role``: "from" or "to"): its node exists and has the port."""
    if role == "from":
        end, node_id, port = edge.source, edge.source_node, edge.source_port
        other, other_port = edge.target_node, edge.target_port
    else:
        end, node_id, port = edge.target, edge.target_node, edge.target_port
        other, other_port = edge.source_node, edge.source_port
    if node_id not in c.wf.nodes:
        # Name the end that exists, so the message points at something the user can see.
        at, at_port = (other, other_port) if other in c.wf.nodes else (node_id, None)
        c.issues.append(_issue(_Said("dangling_edge", "edge {i} ({source} -> {target}): there is no node {node}",
                                     i=i, source=edge.source, target=edge.target, node=repr(node_id)),
                               at, at_port, _Said("dangling_edge_fix", "remove the edge or add node {node}",
                                                  node=repr(node_id)), "dangling_edge"))
        return False
    cn = c.nodes.get(node_id)
    if cn is None:
        return False  # unknown type, already reported
    ports = cn.spec.outputs if role == "from" else cn.spec.ports_in()
    if port in ports:
        return True
    if role == "to" and port in cn.spec.params:
        c.issues.append(_issue(_Said("param_not_wirable", "param {port} cannot be wired", port=repr(port)),
                               node_id, port, _Said("param_not_wirable_fix", "set its value in params instead"),
                               "unknown_port"))
    else:
        what = "output" if role == "from" else "input"
        c.issues.append(_issue(_Said(f"no_such_{what}", f"{{type}} has no {what} {{port}} (edge {{end}})",
                                     type=cn.spec.type, port=repr(port), end=end),
                               node_id, port, _known(port, ports, what), "unknown_port"))
    return False


def _check_one_edge_per_input(c: _Compilation) -> None:
    """An input takes one edge."""
    for (node_id, port), sources in c.incoming.items():
        if len(sources) > 1:
            c.issues.append(_issue(_Said("two_edges", "{count} edges lead into this input (from {sources})",
                                         count=len(sources), sources=", ".join(sources)),
                                   node_id, port, _Said("two_edges_fix", "an input takes one edge: remove all but one"),
                                   "two_edges"))


# ----------------------------------------------------------------------------------------------
# 3. params and required inputs


def _check_params_and_inputs(c: _Compilation) -> None:
    """Per node (so each node's problems come together): param names, values and required
    params, then required inputs. Unwired params are replaced by their checked values."""
    for cn in c.nodes.values():
        _check_param_names(c, cn)
        checked = _check_param_values(c, cn)
        _check_required_inputs(c, cn)
        cn.params = checked


def _check_param_names(c: _Compilation, cn: CompiledNode) -> None:
    for name in cn.params:
        if name not in cn.spec.params:
            c.issues.append(_issue(_Said("no_such_param", "{type} has no param {name}", type=cn.spec.type,
                                         name=repr(name)),
                                   cn.id, name, _known(name, cn.spec.params, "param"), "unknown_param"))


def _check_param_values(c: _Compilation, cn: CompiledNode) -> dict[str, Any]:
    """The checked value of every unwired param, defaults filled in; a required one must be set."""
    checked: dict[str, Any] = {}
    for name, p in cn.spec.params.items():
        if (cn.id, name) in c.incoming:
            continue
        if name in cn.params:
            try:
                value = cn.params[name]
                none_ok = value is None and p.has_default and p.default is None
                checked[name] = None if none_ok else p.check(value)
            except ValueError as e:
                c.issues.append(_issue(str(e), cn.id, name, _hint(p), "bad_value"))
        elif p.has_default:
            checked[name] = p.default
        else:
            c.issues.append(_issue(_Said("missing_param", "required param is not set"), cn.id, name,
                                   _Said("missing_param_fix", "set it in params, wire a {type} into it, or pass "
                                         "--set {node}.{name}=VALUE", type=p.type, node=cn.id, name=name),
                                   "missing_param"))
    return checked


def _check_required_inputs(c: _Compilation, cn: CompiledNode) -> None:
    for name, p in cn.spec.inputs.items():
        if p.required and (cn.id, name) not in c.incoming:
            c.issues.append(_issue(_Said("missing_input", "required input ({type}) is not connected", type=p.type),
                                   cn.id, name, _Said("missing_input_fix", "wire a {type} output into {node}.{name}",
                                                      type=p.type, node=cn.id, name=name), "missing_input"))


# ----------------------------------------------------------------------------------------------
# 4. cycles and the run order


def _check_cycles(c: _Compilation) -> None:
    """One issue per strongly connected group, with one cycle spelled out."""
    for comp in nx.strongly_connected_components(c.dag):
        if len(comp) < 2:
            continue
        c.in_cycle |= comp
        sub = nx.DiGraph()  # in workflow order, so the same file always names the same cycle
        sub.add_nodes_from(n for n in c.dag if n in comp)
        sub.add_edges_from((u, v) for u, v in c.dag.edges if u in comp and v in comp)
        cycle = nx.find_cycle(sub, source=next(iter(sub)))
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        c.issues.append(_issue(_Said("cycle", "cycle: {path}", path=path), cycle[0][0], None,
                               _Said("cycle_fix", "a workflow must flow one way: remove one of these edges"), "cycle"))


def _order_nodes(c: _Compilation) -> None:
    """A topological order of the acyclic part, so a cycle does not hide the type problems."""
    c.order = list(nx.topological_sort(c.dag.subgraph(n for n in c.dag if n not in c.in_cycle)))


# ----------------------------------------------------------------------------------------------
# 5. types and links


def _check_types_and_link(c: _Compilation) -> None:
    """In run order: bind each node's type variables from what is wired into it, check each wired
    type fits (directly, or mapped over a list) and record the links and the resolved port types."""
    edges_by_target: dict[str, list[Edge]] = {}
    for edge in c.wf.edges:
        edges_by_target.setdefault(edge.target_node, []).append(edge)
    for node_id in c.order:
        cn = c.nodes.get(node_id)
        if cn is None:
            continue
        bindings, wired = _bind_wired_types(c, cn, edges_by_target.get(node_id, ()))
        for edge, port, src_type in wired:
            _link(c, cn, edge, t.substitute(port.type, bindings), src_type)
        cn.maps = any(link.mode == "map" for link in cn.links.values())
        cn.in_types = {n: t.substitute(p.type, bindings) for n, p in cn.spec.ports_in().items()}
        for name, p in cn.spec.outputs.items():
            out = t.substitute(p.type, bindings)
            cn.out_types[name] = t.List[out] if cn.maps else out


def _bind_wired_types(c: _Compilation, cn: CompiledNode, edges: Iterable[Edge]
                      ) -> tuple[dict[str, t.PortType], list[tuple[Edge, PortSpec, t.PortType]]]:
    """The type-variable bindings from the node's good incoming edges, and those edges with the
    port each one feeds and the type it carries (edges already reported are left out)."""
    bindings: dict[str, t.PortType] = {}
    wired: list[tuple[Edge, PortSpec, t.PortType]] = []
    ports_in = cn.spec.ports_in()
    for edge in edges:
        src = c.nodes.get(edge.source_node)
        port = ports_in.get(edge.target_port)
        if src is None or port is None or edge.source_port not in src.out_types:
            continue
        if len(c.incoming.get((cn.id, edge.target_port), ())) > 1:
            continue
        src_type = src.out_types[edge.source_port]
        t.bind(port.type, src_type, bindings)
        wired.append((edge, port, src_type))
    return bindings, wired


def _link(c: _Compilation, cn: CompiledNode, edge: Edge, declared: t.PortType, src_type: t.PortType) -> None:
    """Record the edge as a direct or mapped link, or report that its type does not fit."""
    mode = t.link_mode(src_type, declared)
    if mode is None:
        c.issues.append(_issue(_Said("type_mismatch", "expects {declared}, but {source} gives {got}",
                                     declared=declared, source=edge.source, got=src_type),
                               cn.id, edge.target_port,
                               _Said("type_mismatch_fix", "wire a {declared} output here, or convert {source} first",
                                     declared=declared, source=edge.source), "type_mismatch"))
        return
    cn.links[edge.target_port] = Link(edge.source_node, edge.source_port, cn.id, edge.target_port, mode)



def _major(version: str) -> int | None:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return None


class _Said(str):
    """An English sentence that also carries its Words (its i18n key and values, for the editor)."""

    words: Words

    def __new__(cls, key: str, english: str, **values: Any) -> _Said:
        said = super().__new__(cls, english.format(**values))
        said.words = (f"issue.{key}", {k: str(v) for k, v in values.items()})
        return said


def _issue(message: str, node: str | None, field: str | None, fix: str | None, code: str) -> Issue:
    """An Issue whose message and fix say their Words where they were made with ``_Said``."""
    words = tuple(getattr(x, "words", None) for x in (message, fix))
    return Issue(str(message), node, field, None if fix is None else str(fix), code, words)  # type: ignore[arg-type]


def _known(name: str, names, what: str) -> _Said:
    names = list(names)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return _Said("did_you_mean", "did you mean {name}?", name=repr(close[0]))
    if names:
        return _Said(f"known_{what}s", f"its {what}s are: {{names}}", names=", ".join(names))
    return _Said(f"no_{what}s", f"it has no {what}s")


def _hint(p) -> _Said:
    article = _a(p.type)
    if p.choices:
        return _Said("choose_one", "choose one of: {choices}", choices=", ".join(p.choices))
    if p.min is not None or p.max is not None:
        lo = f"{p.min:g}" if p.min is not None else "-inf"
        hi = f"{p.max:g}" if p.max is not None else "inf"
        return _Said("give_between", "give {article} {type} between {lo} and {hi}", article=article,
                     type=p.type, lo=lo, hi=hi)
    return _Said("give_value", "give {article} {type} value", article=article, type=p.type)


def _a(thing) -> str:
    """The English article for ``thing``: "an" Int, "a" Text."""
    return "an" if str(thing)[:1].lower() in "aeiou" else "a"
