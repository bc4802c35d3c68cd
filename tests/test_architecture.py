"""The package's shape: the folders show the flow (corpus → mixtures → features → models →
training → separation → scores), every import points down that flow, between subpackages as
between modules (lazy imports inside functions included), no module is over 400 lines, the top
level stays small, and the public API at the top resolves without importing torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import vaesep

PACKAGE = Path(__file__).resolve().parents[1] / "vaesep"

# The package's rooms in the order data flows: each may import only itself and those before
# it. The top (``vaesep``: the public API) and the command line may import anything below.
LAYERS = (
    "vaesep.errors",
    "vaesep.version",
    "vaesep.io",
    "vaesep.data",
    "vaesep.config",
    "vaesep.zoo.configs",  # the shipped configs, found by name before the registry reads one
    "vaesep.zoo.pretrained",  # the bundled models, found by name before a run starts from one
    "vaesep.features",
    "vaesep.models",
    "vaesep.registry",
    "vaesep.expdir",
    "vaesep.training",
    "vaesep.zoo",
    "vaesep.separation",
    "vaesep.scoring",
    "vaesep",
    "vaesep.cli",
    "vaesep.__main__",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every vaesep module → the vaesep modules it imports anywhere in its code."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _room(module: str) -> str:
    """The room (a row of LAYERS) a module lives in: its longest matching prefix."""
    rooms = [r for r in LAYERS if module == r or module.startswith(r + ".")]
    return max(rooms, key=len)


def _rooms(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The package-level graph: room → the other rooms its modules import."""
    out: dict[str, set[str]] = {room: set() for room in LAYERS}
    for module, targets in graph.items():
        out[_room(module)] |= {_room(t) for t in targets} - {_room(module)}
    return out


def _upward(rooms: dict[str, set[str]]) -> list[str]:
    rank = {room: i for i, room in enumerate(LAYERS)}
    return sorted(f"{a} -> {b}" for a, bs in rooms.items() for b in bs if rank[b] > rank[a])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_between_modules():
    graph = _imports()
    assert "vaesep.registry" in graph["vaesep.training.experiment"]  # it sees real imports
    assert "vaesep.data.perturb" in graph["vaesep.cli.data"]  # lazy ones too
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_no_import_circle_is_detected_when_there_is_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_module_lives_in_a_room_of_the_flow():
    graph = _imports()
    assert all(_room(m) in LAYERS for m in graph)
    top = sorted(m for m in graph if _room(m) == "vaesep" and m != "vaesep")
    assert not top, f"modules outside every room (add them to a room or to LAYERS): {top}"


def test_rooms_import_only_rooms_before_them_in_the_flow():
    rooms = _rooms(_imports())
    assert "vaesep.models" in rooms["vaesep.registry"]  # the package graph sees real edges
    assert _cycle(rooms) is None, " -> ".join(_cycle(rooms))
    assert not _upward(rooms), _upward(rooms)


def test_an_upward_arrow_is_detected():
    rooms = {room: set() for room in LAYERS} | {"vaesep.io": {"vaesep.separation"}}
    assert _upward(rooms) == ["vaesep.io -> vaesep.separation"]


def test_no_module_imports_the_public_api():
    """Only the command line may use the top: a module below it that did would tie the
    stages to everything (and to the lazy API's import order)."""
    graph = _imports()
    users = sorted(m for m, ts in graph.items() if "vaesep" in ts and _room(m) != "vaesep.cli")
    assert not users, users


def test_top_level_stays_small():
    top = [p for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()]
    assert len(top) <= 16, sorted(p.name for p in top)
    assert len([p for p in top if p.suffix == ".py"]) <= 10


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


@pytest.mark.parametrize("name", sorted(set(vaesep.__all__)))
def test_public_name_resolves(name):
    assert getattr(vaesep, name) is not None
    assert name in dir(vaesep)


def test_public_api_lists_the_same_names_everywhere():
    """``__all__``, the lazy table and the imports type checkers read name the same things."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If))  # if TYPE_CHECKING:
    typed = {a.asname or a.name for n in block.body for a in n.names}
    lazy = set(vaesep._API)
    assert typed == lazy == set(vaesep.__all__) - {"VaesepError", "__version__"}
    assert len(vaesep.__all__) == len(set(vaesep.__all__))


def test_unknown_public_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Separatr'"):
        vaesep.Separatr  # noqa: B018


def test_importing_vaesep_and_its_cli_loads_no_torch():
    code = "import sys, vaesep, vaesep.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
