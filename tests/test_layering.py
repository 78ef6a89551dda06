"""governance/ (registry, access, audit) is the lower layer: it never imports workflows/ when it loads.

The project wiring names both layers by dotted path (governance/version_wiring.py), and the page
templates name the workflow apps' panels; the demo app sits on top of everything.
"""

import ast
from pathlib import Path

import governance

LOWER_LAYER = Path(governance.__file__).parent
ON_TOP = {"demo"}


def _module_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in tree.body:  # module level only: an import inside a function runs when it is called
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_governance_imports_no_workflow_app_at_module_level():
    offenders = [
        f"{path.relative_to(LOWER_LAYER.parent)}: {name}"
        for path in sorted(LOWER_LAYER.rglob("*.py"))
        if path.relative_to(LOWER_LAYER).parts[0] not in ON_TOP
        for name in _module_level_imports(path)
        if name == "workflows" or name.startswith("workflows.")
    ]
    assert offenders == []
