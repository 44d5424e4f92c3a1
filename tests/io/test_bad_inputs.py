"""A corpus of bad inputs built from the real letters, run through every record command (parse,
tag, predict) as a user runs them: records in = records out + error records, every problem a
coded error naming its file (and line), no traceback, no temporary file left behind."""
from __future__ import annotations

import codecs
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from pipeline.io.letters import parse_letter
from pipeline.io.sources import letter_text, read_records
from pipeline.io.text import MAX_LETTER_CHARS

from ..conftest import DMHC_SAMPLE, ENV, LETTERS_TXT, ROOT, SEED, imr, letters_folder

pytestmark = pytest.mark.slow  # runs every command on the whole bad-input corpus

LETTER = LETTERS_TXT / "CM16-0230651.txt"
# file name -> (records it holds, error codes expected among them)
CORPUS = {
    "good.txt": (1, []),
    "crlf.txt": (1, []),
    "utf16.txt": (1, []),
    "bom.txt": (1, []),
    "pdf_named.txt": (1, []),
    "text_named.pdf": (1, []),
    "three_letters.txt": (3, []),
    "oversized.txt": (1, ["too-long"]),
    "pending.txt": (1, []),
    "rows.csv": (6, ["missing-id", "empty-text", "too-long"]),
    "semicolon_rows.csv": (2, []),
    "rows.jsonl": (6, ["bad-json", "not-an-object", "missing-text", "empty-text"]),
    "foreign.csv": (1, ["unknown-csv"]),
    "nested/good_copy.txt": (1, []),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad") / "inbox"
    (d / "nested").mkdir(parents=True)
    text = LETTER.read_text(encoding="utf-8")
    (d / "good.txt").write_text(text)
    (d / "crlf.txt").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    (d / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    (d / "bom.txt").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    (d / "pdf_named.txt").write_bytes((ROOT / "data/raw/dwc_letters/pdf/CM16-0230651.pdf").read_bytes())
    (d / "text_named.pdf").write_text(SEED.read_text())
    others = sorted(LETTERS_TXT.glob("*.txt"))[:3]
    (d / "three_letters.txt").write_text("".join(f.read_text() for f in others))
    (d / "oversized.txt").write_text(text + "\n" + "filler " * (MAX_LETTER_CHARS // 6))
    (d / "pending.txt").write_text(SEED.read_text().replace("home use: Overturned", "home use: Pending"))
    (d / "rows.csv").write_text("ID,Text\nd1,Lumbar MRI requested after six weeks of back pain.\n"
                                "d1,A second row with the same id: a record of its own.\n"
                                ",An empty id.\nd3,\nd4," + "x" * (MAX_LETTER_CHARS + 10) + "\n"
                                "d2,Physical therapy for a knee strain.\n")
    (d / "semicolon_rows.csv").write_text("id;text\ns1;Knee brace requested.\ns2;Home health aide.\n")
    (d / "rows.jsonl").write_text("\n".join([json.dumps({"id": "j1", "text": "Acupuncture x 6."}), "{not json",
                                             "[1, 2]", json.dumps({"id": "j3"}), json.dumps({"id": "j4", "text": ""}),
                                             json.dumps({"Id": "j5", "Text": "TENS unit."})]) + "\n")
    (d / "foreign.csv").write_text("a,b\n1,2\n")
    (d / "nested" / "good_copy.txt").write_text(text)
    (d / "broken_link.txt").symlink_to(d / "no_such_file.txt")
    (d / "loop").symlink_to(d)  # a folder that links to itself
    return d


def run(*args, **kw):
    proc = imr(*args, **kw)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_every_file_becomes_its_records(corpus):
    """The input layer alone: each file gives the records it holds, each problem a coded error."""
    recs = list(read_records([corpus, corpus / "rows.jsonl"]))  # JSONL is read when named, not from folders
    by_file = {}
    for r in recs:
        by_file.setdefault(os.path.relpath(re.sub(r"(#\d+|:\d+)$", "", r.source), corpus), []).append(r)
    for name, (n, codes) in CORPUS.items():
        got = by_file.get(name, [])
        assert len(got) == n, (name, got)
        assert sorted(getattr(r, "code", "") for r in got if hasattr(r, "code")) == sorted(codes), name
    links = {os.path.basename(r.source): r.code for r in recs if hasattr(r, "code") and r.code == "unreadable-file"}
    assert set(links) == {"broken_link.txt", "loop"}
    assert len({r.source for r in recs}) == len(recs)  # every record keyed once


def test_line_endings_and_encodings_give_the_same_items(corpus):
    ref = [it.to_dict() for it in parse_letter(letter_text(LETTER.read_bytes()), "x").items]
    for name in ("crlf.txt", "utf16.txt", "bom.txt", "pdf_named.txt", "nested/good_copy.txt"):
        (letter,) = [r for r in read_records([corpus / name])]
        assert [it.to_dict() for it in letter.items] == ref, name


def test_crlf_copies_of_every_shipped_letter_parse_identically(letter_files):
    for f in letter_files:
        data = f.read_bytes()
        a = parse_letter(letter_text(data), "x")
        b = parse_letter(letter_text(data.replace(b"\n", b"\r\n")), "x")
        assert [it.to_dict() for it in a.items] == [it.to_dict() for it in b.items], f.name
        assert a.case_summary == b.case_summary and a.specialty == b.specialty, f.name


def test_concatenated_letters_are_split_whole():
    others = sorted(LETTERS_TXT.glob("*.txt"))[:3]
    joined = "".join(f.read_text() for f in others)
    from pipeline.io.letters import split_letters

    pieces = split_letters(joined)
    assert len(pieces) == 3 and "".join(pieces) == joined
    assert [parse_letter(p, "x").case_number for p in pieces] == [f.stem for f in others]


def _counts(stderr: str, command: str) -> tuple[int, int, int]:
    m = re.search(rf"{command}: (\d+) records in = (\d+) with output \+ (\d+) with errors", stderr)
    assert m, stderr
    return tuple(int(x) for x in m.groups())


@pytest.mark.parametrize("command", ["parse", "tag", "predict"])
def test_every_command_accounts_for_every_record(corpus, command, tiny_model, tmp_path):
    out = tmp_path / "out.jsonl"
    extra = ["--model", str(tiny_model)] if command == "predict" else []
    proc = run(command, str(corpus), str(corpus), str(corpus / "nested"), str(corpus / "rows.jsonl"),
               "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    n_in, ok, bad = _counts(proc.stderr, command)
    n_records = sum(n for n, _ in CORPUS.values()) + 2  # + the broken link and the looping folder
    assert n_in == ok + bad == n_records  # the folder named three times is read once
    errors = lines(tmp_path / "out.errors.jsonl")
    assert len({e["source"] for e in errors}) == bad and all(e["code"] and e["message"] for e in errors)
    rows = lines(out)
    assert len({r["source"] for r in rows}) == ok
    if command != "parse":  # parse reads letters: the 9 text rows are its errors
        codes = sorted(e["code"] for e in errors)
        assert codes == sorted([c for _, cs in CORPUS.values() for c in cs] + ["unreadable-file"] * 2)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.parts"))


def test_repeated_ids_never_wedge_a_job(tmp_path, tiny_model):
    f = tmp_path / "ids.csv"
    f.write_text("id,text\nd1,Knee MRI.\nd1,Shoulder MRI.\nd2,Lumbar MRI.\n")
    for _ in range(2):  # the second run (even --restart) must work as well
        proc = run("predict", str(f), "--model", str(tiny_model), "--out", str(tmp_path / "o.jsonl"),
                   "--batch-letters", "1", "--restart")
        assert proc.returncode == 0, proc.stderr
        assert _counts(proc.stderr, "predict") == (3, 3, 0)
    assert [r["id"] for r in lines(tmp_path / "o.jsonl")] == ["d1", "d1", "d2"]
    assert not list(tmp_path.glob("*.parts")) and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("args, message", [
    (["--model", "models"], "not a model"),
    (["--model", ""], "--model is empty"),
    (["--model", "models/nope"], "no model 'models/nope'"),
])
def test_a_wrong_model_is_one_line_exit_2(args, message, tmp_path):
    proc = run("predict", str(LETTER), *args, "--out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("imr predict: ")


def test_a_tagger_is_not_a_classifier(tmp_path):
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    (tagger / "config.cfg").write_text("[nlp]\n")
    (tagger / "meta.json").write_text("{}")
    proc = run("predict", str(LETTER), "--model", str(tagger), "--out", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "is a tagger" in proc.stderr


@pytest.mark.parametrize("where", ["a_folder", "under_a_file"])
def test_an_unwritable_output_is_refused_before_any_work(where, tiny_model, tmp_path):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "file").write_text("x")
    out = tmp_path / "a_folder" if where == "a_folder" else tmp_path / "file" / "o.jsonl"
    for command, extra in (("parse", []), ("predict", ["--model", str(tiny_model)])):
        proc = run(command, str(LETTER), "--out", str(out), *extra)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not list(tmp_path.rglob("*.parts")) and not list(tmp_path.rglob("*.tmp"))


def test_a_missing_tagger_model_is_one_line(tmp_path):
    proc = run("tag", str(LETTER), "--out", str(tmp_path / "o.jsonl"), "--model", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "imr train-tagger" in proc.stderr


def _start(args):
    # SIGINT as a shell delivers it: a child inherits an ignored SIGINT from its parent, and
    # something in the test process may have set one (Python then installs no Ctrl-C handler)
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))


def _wait_for_parts(parts, n=2, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline and len(list(parts.glob("part-*.jsonl"))) < n:
        time.sleep(0.02)


def test_ctrl_c_says_how_to_resume_and_a_second_run_is_refused(tmp_path, tiny_model):
    d = letters_folder(tmp_path / "in", 40)
    out = tmp_path / "o.jsonl"
    args = ["predict", str(d), "--model", str(tiny_model), "--out", str(out), "--batch-letters", "1", "--quiet"]
    first = _start(args)
    _wait_for_parts(tmp_path / "o.jsonl.parts")
    second = run(*args)  # the same --out while the first still writes it
    assert second.returncode == 2 and "is writing" in second.stderr
    assert first.poll() is None, "the first run finished before it could be interrupted"
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130 and "rerun the same command to resume" in err and "Traceback" not in err
    again = run(*args)
    assert again.returncode == 0 and "resumed from an earlier run" in again.stderr
    assert _counts(again.stderr, "predict") == (40, 40, 0)


def test_dmhc_export_rows_keep_their_line_numbers():
    recs = list(read_records([DMHC_SAMPLE]))
    assert len(recs) == 20 and len({r.source for r in recs}) == 20
    assert recs[0].source == f"{DMHC_SAMPLE}:2"
