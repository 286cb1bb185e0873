import json

import pytest

from bench import results
from bench.results import ResultError


def good() -> dict:
    result = results.new("xmpp", {"clients": 3})
    result["servers"] = {"ours": {"login_ms": {"count": 0}}, "prosody": {}}
    result["ratios"] = {"prosody": {"login_ms.p50": 1.2}}
    return result


def test_a_new_result_carries_the_machine_and_validates():
    result = good()
    assert set(results.MACHINE_FIELDS) <= set(result["machine"])
    assert result["machine"]["cores"] >= 1
    assert results.validate(result) is result


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("servers"), "missing field 'servers'"),
    (lambda r: r.update(schema=99), "schema 99"),
    (lambda r: r.update(workload="tennis"), "unknown workload"),
    (lambda r: r.update(ok="yes"), "field 'ok' has type str"),
    (lambda r: r.update(duration_s=True) or r.update(schema=True), "field 'schema' has type bool"),
    (lambda r: r["machine"].pop("cpu"), "machine lacks 'cpu'"),
    (lambda r: r["ratios"].update(ejabberd={}), "ratios against 'ejabberd'"),
    (lambda r: r["errors"].append("boom"), "a run with errors is not ok"),
    (lambda r: r["errors"].append(3) or r.update(ok=False), "errors holds strings"),
    (lambda r: r["servers"].update(ours=[]), "is not an object"),
])
def test_validate_names_the_first_wrong_field(change, message):
    result = good()
    change(result)
    with pytest.raises(ResultError, match=message):
        results.validate(result)


def test_append_writes_one_line_per_run_and_load_reads_them_back(tmp_path):
    path = tmp_path / "deep" / "results.jsonl"
    first, second = good(), good()
    second["ok"] = False
    second["errors"] = ["ours: did not start"]
    results.append(first, path)
    results.append(second, path)
    assert len(path.read_text().splitlines()) == 2
    assert [r["ok"] for r in results.load(path)] == [True, False]


def test_an_invalid_result_is_never_written(tmp_path):
    path = tmp_path / "results.jsonl"
    broken = good()
    broken.pop("params")
    with pytest.raises(ResultError):
        results.append(broken, path)
    assert not path.exists()


def test_load_points_at_the_bad_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(good()) + "\n{not json\n")
    with pytest.raises(ResultError, match=r"results.jsonl:2"):
        results.load(path)
