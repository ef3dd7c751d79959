"""test_tune_cli.py — `lowbit tune`: bad input exits 2 before any work (unknown op, budget <= 0, shapes
that do not parse, a corrupt database left untouched), a small real tuning run writes a verified entry
into the database named by --db, the final table and --show list it, and `lowbit bench` reports the
tuned configuration (config_source "tuned" or "default") for that shape."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import backends, expect_error, main, ok, test  # noqa: E402


@test
def bad_input_exits_2(tmp):
    db = tmp / "t.json"
    expect_error(["tune", "--op", "nope", "--db", db], needle="unknown op 'nope'")
    expect_error(["tune", "--db", db], needle="--op is required")
    for budget in ("0", "-3"):
        expect_error(["tune", "--op", "w4a16", "--budget", budget, "--db", db], needle="--budget")
    for shapes in ("1,2", "a,b,c", "1,0,4", "1,2,3,4"):
        expect_error(["tune", "--op", "w4a16", "--shapes", shapes, "--db", db], needle="bad shape")
    expect_error(["tune", "--op", "attention", "--shapes", "1,2,3", "--db", db], needle="BATCH,CONTEXT")
    assert not db.exists(), "nothing written on bad input"


@test
def corrupt_database_is_left_untouched(tmp):
    db = tmp / "t.json"
    db.write_text("{corrupt")
    expect_error(["tune", "--op", "w4a16", "--shapes", "1,64,256", "--db", db], needle="is not JSON")
    expect_error(["tune", "--show", "--db", db], needle="left as it is")
    assert db.read_text() == "{corrupt"


@test
def tunes_a_shape_and_lists_it(tmp):
    db = tmp / "t.json"
    backend = [b for b in backends() if b != "cpu"][:1] or ["cpu"]
    r = ok("tune", "--op", "w4a16", "--shapes", "1,256,1024", "--budget", "6", "--backend", backend[0], "--db", db)
    assert "geomean speed-up" in r.stdout and "gemv_w4" in r.stdout, r.stdout
    entries = json.loads(db.read_text())["entries"]
    assert len(entries) == 1, entries
    e = entries[0]
    assert (e["family"], e["m_bucket"], e["n"], e["k"], e["backend"]) == ("gemv_w4", 1, 256, 1024, backend[0]), e
    assert e["config_ms"] <= e["default_ms"], e
    show = ok("tune", "--show", "--db", db).stdout
    assert "gemv_w4" in show and "1 entries" in show, show
    bench = tmp / "b.json"
    ok("bench", "--op", "w4a16", "--shapes", "1,256,1024", "--warmup", "0", "--iters", "1", "--peak-shape", "0",
       "--copy-mib", "1", "--group", "128", "--backend", backend[0], "--json", bench,
       env={"LOWBIT_TUNING_DB": str(db)})
    rows = [x for x in json.loads(bench.read_text())["results"] if x["op"] == "w4a16"]
    assert rows and rows[0]["config_source"] in ("tuned", "default"), rows
    assert rows[0]["config"].startswith("gemv_w4"), rows


@test
def attention_and_kv_append_shapes_reach_the_database(tmp):
    db = tmp / "t.json"
    ok("tune", "--op", "attention", "--shapes", "2,256", "--budget", "2", "--backend", "cpu", "--db", db)
    ok("tune", "--op", "kv_append", "--shapes", "1,16", "--budget", "2", "--backend", "cpu", "--db", db)
    fams = sorted(e["family"] for e in json.loads(db.read_text())["entries"])
    assert fams == ["attention_decode", "kv_append"], fams


if __name__ == "__main__":
    sys.exit(main("lowbit_tune"))
