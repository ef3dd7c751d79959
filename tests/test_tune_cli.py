"""test_tune_cli.py — `lowbit tune`: bad input exits 2 before any work (unknown op, budget <= 0, shapes
that do not parse, a corrupt database left untouched), a small real tuning run writes a verified entry
into the database named by --db, the final table and --show list it (with the device's vendor and
device ids), and `lowbit bench` reports the tuned configuration (config_source "tuned" or "default") for
that shape; an entry of the previous format (no ids) stays on disk; one --budget is split over the
shapes, cheapest first, and a shape whose default cannot run in its share is skipped with a line; W4A8
(GEMV and tiled), prefill attention, quantize and dequantize tune the same way."""
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
    expect_error(["tune", "--op", "attention_prefill", "--shapes", "1", "--db", db], needle="BATCH,TOKENS")
    for shapes in ("64,256", "nope,64,256", "mxfp4,64", "mxfp4,0,256"):
        expect_error(["tune", "--op", "quantize", "--shapes", shapes, "--db", db], needle="FORMAT one of")
    expect_error(["tune", "--op", "w4a8", "--shapes", "1,64", "--db", db], needle="bad shape")
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
def ids_key_the_entries_and_old_entries_stay(tmp):
    text = ok("devices").stdout
    assert "      vendor 0x" in text and " device 0x" in text, text
    for b in json.loads(ok("devices", "--json").stdout)["backends"]:
        for d in b["devices"]:
            assert isinstance(d["vendor_id"], int) and isinstance(d["device_id"], int), d
    db = tmp / "t.json"
    ok("tune", "--op", "w4a16", "--shapes", "1,64,256", "--budget", "1", "--backend", "cpu", "--db", db)
    data = json.loads(db.read_text())
    (e,) = data["entries"]
    assert (e["vendor_id"], e["device_id"]) == (0, 0), e
    old = {k: v for k, v in e.items() if k not in ("vendor_id", "device_id")}  # as the previous lowbit wrote it
    data["entries"] = [old]
    db.write_text(json.dumps(data))
    show = ok("tune", "--show", "--db", db).stdout
    assert "none (old)" in show, show
    ok("tune", "--op", "w4a16", "--shapes", "1,64,256", "--budget", "1", "--backend", "cpu", "--db", db)
    entries = json.loads(db.read_text())["entries"]
    assert old in entries, "the old entry stays on disk as it was"
    assert len(entries) == 2, entries
    show = ok("tune", "--show", "--db", db).stdout
    assert "0x0000:0x0000" in show and "none (old)" in show, show


@test
def budget_is_split_cheapest_first_and_skips_what_cannot_run(tmp):
    db = tmp / "t.json"
    r = ok("tune", "--op", "w4a16", "--shapes", "512,4096,4096;1,64,256", "--budget", "2", "--backend", "cpu",
           "--db", db)
    lines = r.stdout.splitlines()
    small = [i for i, l in enumerate(lines) if l.startswith("1x64x256 ")]
    big = [i for i, l in enumerate(lines) if l.startswith("512x4096x4096 ")]
    assert small and big and small[0] < big[0], r.stdout
    assert "skipped: the default alone needs about" in lines[big[0]], r.stdout
    assert "over 1 shapes (1 skipped)" in r.stdout, r.stdout
    assert [e["m_bucket"] for e in json.loads(db.read_text())["entries"]] == [1]


@test
def attention_and_kv_append_shapes_reach_the_database(tmp):
    db = tmp / "t.json"
    ok("tune", "--op", "attention", "--shapes", "2,256", "--budget", "2", "--backend", "cpu", "--db", db)
    ok("tune", "--op", "kv_append", "--shapes", "1,16", "--budget", "2", "--backend", "cpu", "--db", db)
    fams = sorted(e["family"] for e in json.loads(db.read_text())["entries"])
    assert fams == ["attention_decode", "kv_append"], fams


@test
def w4a8_prefill_and_conversions_tune_and_list(tmp):
    db = tmp / "t.json"
    backend = ([b for b in backends() if b != "cpu"] or ["cpu"])[0]
    for op, shape in (("w4a8", "1,256,1024"), ("w4a8", "40,128,512"), ("attention_prefill", "1,48"),
                      ("quantize", "mxfp4,16,256"), ("dequantize", "e4m3,16,256")):
        r = ok("tune", "--op", op, "--shapes", shape, "--budget", "3", "--backend", backend, "--db", db)
        assert "geomean speed-up" in r.stdout, r.stdout
    entries = json.loads(db.read_text())["entries"]
    got = sorted((e["family"], e["format"]) for e in entries)
    assert got == [("attention_prefill", "int8 hq32 hkv8 d128 p16"), ("convert", "e4m3 dequantize float32"),
                   ("convert", "mxfp4 quantize float32 packed"), ("gemv_w4a8", "g128"), ("tiled_w4a8", "g128")], got
    for e in entries:
        assert e["config_ms"] <= e["default_ms"] and e["backend"] == backend, e
    show = ok("tune", "--show", "--db", db).stdout
    for fam in ("gemv_w4a8", "tiled_w4a8", "attention_prefill", "convert"):
        assert fam in show, show
    bench = tmp / "b.json"
    ok("bench", "--op", "w4a8", "--shapes", "1,256,1024", "--warmup", "0", "--iters", "1", "--peak-shape", "0",
       "--copy-mib", "1", "--group", "128", "--backend", backend, "--json", bench, env={"LOWBIT_TUNING_DB": str(db)})
    rows = [x for x in json.loads(bench.read_text())["results"] if x["op"] == "w4a8"]
    assert rows and rows[0]["config"].startswith("gemv_w4a8"), rows
    assert rows[0]["config_source"] in ("tuned", "default"), rows


if __name__ == "__main__":
    sys.exit(main("lowbit_tune"))
