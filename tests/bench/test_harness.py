"""The benchmark harness (bench/run.py): how figures are rendered and how scripts that fail or
are absent are reported. The benchmarks themselves run with ./scripts/bench, not here."""

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.fixture
def run(tmp_path, monkeypatch):
    module = load("run")
    monkeypatch.setattr(module, "LOGS", tmp_path / "logs")
    return module


def test_runs_render_as_median_min_max_with_the_unit(run):
    assert run.cell({"runs": [4.1, 4.3, 4.0], "unit": "ms"}) == "4.10 (4.00–4.30) ms"
    assert run.cell({"runs": [1.27, 1.16, 1.47, 1.31], "unit": "×"}) == "1.29 (1.16–1.47) ×"
    assert run.cell({"runs": [1234.0, 987.0, 1500.0], "unit": "ops/s"}) == "1,234 (987–1,500) ops/s"
    assert run.cell({"runs": [12.5], "unit": "ms"}) == "12.5 ms"


def test_counts_and_text_render_plainly(run):
    assert run.cell(10000) == "10,000"
    assert run.cell("a | b") == "a \\| b"


def test_a_section_renders_as_heading_text_and_table(run):
    lines = run.render_results({"title": "T", "sections": [
        {"heading": "SQLite", "text": "What and how.", "columns": ["operation", "p50"],
         "rows": [["read", {"runs": [2.0, 3.0, 1.0], "unit": "ms"}]]},
        {"heading": "Notes", "text": "Prose only."},
    ]})
    assert lines == [
        "### SQLite", "", "What and how.", "",
        "| operation | p50 |", "|---|---|", "| read | 2.00 (1.00–3.00) ms |", "",
        "### Notes", "", "Prose only.", "",
    ]


def test_the_results_file_round_trips(tmp_path):
    benchlib = load("benchlib")
    results = benchlib.Results("Title")
    results.section("Heading", columns=["a", "b"], rows=[["x", benchlib.runs([1.234, 2.345], "ms")]])
    results.section("Prose", text="Only text.")
    results.write(str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == {"title": "Title", "sections": [
        {"heading": "Heading", "columns": ["a", "b"], "rows": [["x", {"runs": [1.23, 2.35], "unit": "ms"}]]},
        {"heading": "Prose", "text": "Only text."},
    ]}
    assert benchlib.percentile(list(range(100)), 0.99) == 99
    assert benchlib.percentile([5.0], 0.5) == 5.0


def test_a_failing_script_is_reported_and_fails_the_run_an_absent_one_is_skipped(run, tmp_path, monkeypatch):
    (tmp_path / "good_bench.py").write_text(textwrap.dedent("""
        import json, sys
        path = sys.argv[sys.argv.index("--json") + 1]
        assert "--quick" in sys.argv and sys.argv[-2:] == ["--repeat", "3"]
        json.dump({"title": "Good", "sections": [{"heading": "H", "columns": ["x"], "rows": [[{"runs": [1, 3, 2], "unit": "s"}]]}]},
                  open(path, "w"))
    """))
    (tmp_path / "broken_bench.py").write_text("raise SystemExit('the server stopped: port in use')\n")
    monkeypatch.setattr(run, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(run, "SCRIPTS", [("good_bench.py", None, None), ("broken_bench.py", None, None),
                                         ("absent_bench.py", None, None)])
    output = tmp_path / "report.md"
    monkeypatch.setattr(sys, "argv", ["run.py", "--quick", "--no-postgres", "--output", str(output),
                                      "--script-args", "good_bench=--repeat 3"])
    assert run.main() == 1
    report = output.read_text()
    assert "## Good (SQLite)" in report and "`bench/good_bench.py --quick --repeat 3`" in report
    assert "| 2.00 (1.00–3.00) s |" in report
    assert "## `bench/broken_bench.py` on SQLite: failed (exit 1)" in report
    assert "the server stopped: port in use" in report
    assert "`bench/absent_bench.py` is not in this checkout: skipped." in report
    assert "| Python |" in report and "| SQLite |" in report


def test_a_run_where_every_script_succeeds_exits_0(run, tmp_path, monkeypatch):
    (tmp_path / "good_bench.py").write_text(
        "import json, sys\njson.dump({'title': 'Good', 'sections': []}, open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n"
    )
    monkeypatch.setattr(run, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(run, "SCRIPTS", [("good_bench.py", None, None)])
    monkeypatch.setattr(sys, "argv", ["run.py", "--no-postgres", "--output", str(tmp_path / "report.md")])
    assert run.main() == 0


def test_render_only_writes_the_report_from_the_results_left_without_running(run, tmp_path, monkeypatch):
    (tmp_path / "never_bench.py").write_text("raise SystemExit('must not run')\n")
    run.LOGS.mkdir(parents=True)
    left = run.LOGS / "never_bench-sqlite.json"
    left.write_text(json.dumps({"title": "Left over", "seconds": 12.0, "options": "--repeat 3",
                                "sections": [{"heading": "H", "text": "T"}]}))
    monkeypatch.setattr(run, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(run, "SCRIPTS", [("never_bench.py", "arg", None)])
    output = tmp_path / "report.md"
    monkeypatch.setattr(sys, "argv", ["run.py", "--render-only", "--no-postgres", "--output", str(output)])
    assert run.main() == 0
    report = output.read_text()
    assert "## Left over (SQLite)" in report and "`bench/never_bench.py --repeat 3`, 12 s." in report
