"""Validation: check a workflow against the registry before anything runs.

Every problem is collected and reported at once, each naming the node id, the field and a fix.
The result of a successful validation is a ``CompiledGraph``: resolved specs, checked params,
typed links (direct or mapped) and a topological order, which the executor runs as is.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from . import types as t
from .errors import Issue, WorkflowError
from .node import NodeSpec
from .registry import Registry, default_registry
from .workflow import Workflow


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

    def outputs(self) -> list[str]:
        """The nodes whose results are the workflow's results: those flagged ``output``, else the sinks."""
        flagged = [n for n in self.order if self.nodes[n].spec.output]
        return flagged or [n for n in self.order if self.dag.out_degree(n) == 0]

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
    reg = registry if registry is not None else default_registry()
    issues: list[Issue] = []
    nodes: dict[str, CompiledNode] = {}
    known = reg.types()

    for node_id, entry in wf.nodes.items():
        spec = reg.get(entry.type)
        if spec is None:
            close = difflib.get_close_matches(entry.type, known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else "install the node pack that provides it (see `reelgraph nodes`)"
            issues.append(Issue(f"unknown node type {entry.type!r}", node_id, "type", fix, "unknown_type"))
            continue
        params = dict(entry.params)
        if entry.version and entry.version != spec.version:
            saved, have = _major(entry.version), _major(spec.version)
            if saved is None:
                issues.append(Issue(f"version {entry.version!r} is not a semantic version", node_id,
                                    "version", f'write "{spec.version}"', "bad_value"))
            elif saved > have:
                issues.append(Issue(f"saved with {entry.type} {entry.version}, but {spec.version} is "
                                    "installed", node_id, "version",
                                    f"upgrade the pack that provides {entry.type}", "version"))
                continue
            else:
                try:
                    params = spec.cls.upgrade_params(params, entry.version)
                except Exception as e:
                    issues.append(Issue(f"cannot upgrade params from {entry.version}: {e}", node_id,
                                        "version", "re-create this node in the editor", "version"))
                    continue
        nodes[node_id] = CompiledNode(node_id, spec, params)

    # Edges: ends exist, ports exist, at most one edge per input.
    incoming: dict[tuple[str, str], list[str]] = {}
    dag = nx.DiGraph()
    dag.add_nodes_from(wf.nodes)
    for i, edge in enumerate(wf.edges):
        ok = True
        for end, node_id, port, role in ((edge.source, edge.source_node, edge.source_port, "from"),
                                         (edge.target, edge.target_node, edge.target_port, "to")):
            if node_id not in wf.nodes:
                # Name the end that exists, so the message points at something the user can see.
                other, other_port = ((edge.target_node, edge.target_port) if role == "from"
                                     else (edge.source_node, edge.source_port))
                here = (other, other_port) if other in wf.nodes else (node_id, None)
                issues.append(Issue(f"edge {i} ({edge.source} -> {edge.target}): there is no node "
                                    f"{node_id!r}", *here,
                                    f"remove the edge or add node {node_id!r}", "dangling_edge"))
                ok = False
                continue
            cn = nodes.get(node_id)
            if cn is None:
                ok = False  # unknown type, already reported
                continue
            ports = cn.spec.outputs if role == "from" else cn.spec.ports_in()
            if port not in ports:
                what = "output" if role == "from" else "input"
                if role == "to" and port in cn.spec.params:
                    issues.append(Issue(f"param {port!r} cannot be wired", node_id, port,
                                        "set its value in params instead", "unknown_port"))
                else:
                    issues.append(Issue(f"{cn.spec.type} has no {what} {port!r} (edge {end})",
                                        node_id, port, _known(port, ports, what), "unknown_port"))
                ok = False
        if edge.source_node == edge.target_node and edge.source_node in wf.nodes:
            issues.append(Issue(f"edge {edge.source} -> {edge.target} connects the node to itself",
                                edge.source_node, edge.target_port, "remove the edge", "cycle"))
            ok = False
        if ok:
            incoming.setdefault((edge.target_node, edge.target_port), []).append(edge.source)
            dag.add_edge(edge.source_node, edge.target_node)
    for (node_id, port), sources in incoming.items():
        if len(sources) > 1:
            issues.append(Issue(f"{len(sources)} edges lead into this input (from {', '.join(sources)})",
                                node_id, port, "an input takes one edge: remove all but one", "two_edges"))

    # Params: known names, good values, required ones set.
    for cn in nodes.values():
        for name, value in cn.params.items():
            if name not in cn.spec.params:
                issues.append(Issue(f"{cn.spec.type} has no param {name!r}", cn.id, name,
                                    _known(name, cn.spec.params, "param"), "unknown_param"))
        checked: dict[str, Any] = {}
        for name, p in cn.spec.params.items():
            if (cn.id, name) in incoming:
                continue
            if name in cn.params:
                try:
                    value = cn.params[name]
                    none_ok = value is None and p.has_default and p.default is None
                    checked[name] = None if none_ok else p.check(value)
                except ValueError as e:
                    issues.append(Issue(str(e), cn.id, name, _hint(p), "bad_value"))
            elif p.has_default:
                checked[name] = p.default
            else:
                issues.append(Issue("required param is not set", cn.id, name,
                                    f"set it in params, wire a {p.type} into it, or pass "
                                    f"--set {cn.id}.{name}=VALUE", "missing_param"))
        for name, p in cn.spec.inputs.items():
            if p.required and (cn.id, name) not in incoming:
                issues.append(Issue(f"required input ({p.type}) is not connected", cn.id, name,
                                    f"wire a {p.type} output into {cn.id}.{name}", "missing_input"))
        cn.params = checked

    # Cycles: one issue per strongly connected group, with one cycle spelled out.
    cyclic = [c for c in nx.strongly_connected_components(dag) if len(c) > 1]
    for comp in cyclic:
        sub = nx.DiGraph()  # in workflow order, so the same file always names the same cycle
        sub.add_nodes_from(n for n in dag if n in comp)
        sub.add_edges_from((u, v) for u, v in dag.edges if u in comp and v in comp)
        cycle = nx.find_cycle(sub, source=next(iter(sub)))
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        issues.append(Issue(f"cycle: {path}", cycle[0][0], None,
                            "a workflow must flow one way: remove one of these edges", "cycle"))

    # Types are checked on the acyclic part too, so a cycle does not hide the other problems.
    in_cycle = set().union(*cyclic)
    order: list[str] = list(nx.topological_sort(dag.subgraph(n for n in dag if n not in in_cycle)))
    edges_by_target: dict[str, list] = {}
    for edge in wf.edges:
        edges_by_target.setdefault(edge.target_node, []).append(edge)
    for node_id in order:
        cn = nodes.get(node_id)
        if cn is None:
            continue
        bindings: dict[str, t.PortType] = {}
        wired: list[tuple[Any, t.PortType]] = []
        ports_in = cn.spec.ports_in()
        for edge in edges_by_target.get(node_id, ()):
            src = nodes.get(edge.source_node)
            port = ports_in.get(edge.target_port)
            if src is None or port is None or edge.source_port not in src.out_types:
                continue
            if len(incoming.get((node_id, edge.target_port), ())) > 1:
                continue
            src_type = src.out_types[edge.source_port]
            t.bind(port.type, src_type, bindings)
            wired.append((edge, src_type))
        for edge, src_type in wired:
            port = ports_in[edge.target_port]
            declared = t.substitute(port.type, bindings)
            mode = t.link_mode(src_type, declared)
            if mode is None:
                issues.append(Issue(f"expects {declared}, but {edge.source} gives {src_type}",
                                    node_id, edge.target_port,
                                    f"wire a {declared} output here, or convert {edge.source} first",
                                    "type_mismatch"))
                continue
            cn.links[edge.target_port] = Link(edge.source_node, edge.source_port, node_id,
                                              edge.target_port, mode)
        cn.maps = any(link.mode == "map" for link in cn.links.values())
        cn.in_types = {n: t.substitute(p.type, bindings) for n, p in ports_in.items()}
        for name, p in cn.spec.outputs.items():
            out = t.substitute(p.type, bindings)
            cn.out_types[name] = t.List[out] if cn.maps else out

    if issues:
        raise WorkflowError(issues, source=wf.source)
    return CompiledGraph(wf, nodes, order, dag)


def _major(version: str) -> int | None:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return None


def _known(name: str, names, what: str) -> str:
    names = list(names)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"its {what}s are: {', '.join(names)}" if names else f"it has no {what}s"


def _hint(p) -> str:
    if p.choices:
        return f"choose one of: {', '.join(p.choices)}"
    if p.min is not None or p.max is not None:
        lo = f"{p.min:g}" if p.min is not None else "-inf"
        hi = f"{p.max:g}" if p.max is not None else "inf"
        return f"give {_a(p.type)} between {lo} and {hi}"
    return f"give {_a(p.type)} value"


def _a(thing) -> str:
    text = str(thing)
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text
