"""yololab's import graph, read from the source (``ast``), as a picture and as a list of upward imports.

Run: ``.venv/bin/python scripts/import_graph.py [--out docs/architecture.png]``. Every ``import`` counts, module-level
or inside a function (yololab imports heavy libraries lazily, and those imports are dependencies all the same).
Modules are grouped into the layers of ``docs/architecture.md``; an arrow goes from importer to imported. The
script exits 1 when a module imports from a layer above its own.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "yololab"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("metrics", ("yololab.metrics",)),
    ("core", ("yololab.config", "yololab.classmap", "yololab.journal", "yololab.data.synthetic_config",
              "yololab.data.yolo_dataset", "yololab.data.sequences", "yololab.data", "yololab")),
    ("adapters", ("yololab.adapters", "yololab.data.synthetic")),
    ("report", ("yololab.report",)),
    ("runners", ("yololab.runners",)),
    ("cli", ("yololab.cli", "yololab.__main__")),
)  # fmt: skip
"""Bottom to top. A module belongs to the layer of its longest matching prefix."""


def module_name(path: Path) -> str:
    """``src/yololab/a/b.py`` -> ``yololab.a.b`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """Index of ``module``'s layer in :data:`LAYERS`."""
    best, index = -1, 0
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    return index


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The yololab modules ``path`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
    """Module -> the yololab modules it imports."""
    files = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a module into a layer above its own."""
    return sorted((a, b) for a, targets in edges.items() for b in targets if layer_of(b) > layer_of(a))


def draw(edges: dict[str, set[str]], out: Path) -> None:
    """One row per layer (bottom: metrics), one box per module, an arrow per import."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: dict[int, list[str]] = {}
    for name in sorted(edges):
        rows.setdefault(layer_of(name), []).append(name)
    width = max(len(r) for r in rows.values())
    pos = {}
    for level, names in rows.items():
        for i, name in enumerate(names):
            pos[name] = ((i + 0.5) * width / len(names), level * 2.0)
    fig, ax = plt.subplots(figsize=(max(14, width * 1.35), 2.2 * len(LAYERS)))
    for a, targets in edges.items():
        for b in targets:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            bad = layer_of(b) > layer_of(a)
            ax.annotate("", (x1, y1 + 0.18), (x0, y0 - 0.18), arrowprops={"arrowstyle": "->", "lw": 1.4 if bad else 0.4,
                        "color": "red" if bad else "0.55", "alpha": 1.0 if bad else 0.45})  # fmt: skip
    for name, (x, y) in pos.items():
        label = name.removeprefix("yololab.").replace(".", ".\n", 1) if name != "yololab" else "yololab"
        ax.text(x, y, label, ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.3"})  # fmt: skip
    for level, (title, _) in enumerate(LAYERS):
        ax.text(-0.6, level * 2.0, title, ha="right", va="center", fontsize=11, weight="bold")
    ax.set_xlim(-2.2, width + 0.2)
    ax.set_ylim(-1, 2.0 * len(LAYERS) - 1)
    ax.axis("off")
    ax.set_title("yololab imports (arrow: importer -> imported; red: upward, a layering error)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    """Draw the graph and list upward imports; 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT.parents[1] / "docs" / "architecture.png")
    args = parser.parse_args()
    edges = graph()
    draw(edges, args.out)
    bad = upward(edges)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports -> {args.out}")
    for a, b in bad:
        print(f"upward import: {a} -> {b}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
