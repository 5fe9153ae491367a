"""Readers, bad-row detection and spool files of batch reclassification (no model needed)."""
from __future__ import annotations

import json

import pytest

from hotline.batch.errors import UnsupportedFormat
from hotline.batch.readers import MISSING, BadRow, detect_encoding, format_of, open_reader
from hotline.batch.runner import _chunks
from hotline.batch.writers import AppendFile, RowFormatter


def rows_of(path, **kw):
    reader = open_reader(path, **kw)
    try:
        return reader.columns, list(reader)
    finally:
        reader.close()


def test_format_by_extension():
    assert format_of("a.CSV") == "csv" and format_of("b.jsonl") == "jsonl"
    assert format_of("c.xlsx") == "xlsx"
    with pytest.raises(UnsupportedFormat, match=r"\.txt"):
        format_of("d.txt")


def test_csv_row_and_line_numbers_with_multiline_fields(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text('id,title,detail\n1,a,"two\nlines"\n\n2,b,c\n3,d\n4,e,f\n', encoding="utf-8")
    cols, rows = rows_of(p)
    assert cols == ["id", "title", "detail"]
    assert [(r, line) for r, line, _ in rows] == [(1, 2), (2, 5), (3, 6), (4, 7)]
    assert rows[0][2] == ["1", "a", "two\nlines"]
    bad = rows[2][2]
    assert isinstance(bad, BadRow) and bad.code == "wrong_column_count"
    assert "2 fields" in bad.reason and "header has 3" in bad.reason


def test_gb18030_file_is_detected(tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes("title,detail\n路灯坏了,小区门口路灯不亮\n".encode("gb18030"))
    assert detect_encoding(p) == "gb18030"
    _, rows = rows_of(p)
    assert rows[0][2] == ["路灯坏了", "小区门口路灯不亮"]


def test_broken_bytes_make_one_bad_row_not_a_failed_run(tmp_path):
    p = tmp_path / "in.csv"
    p.write_bytes("title,detail\n噪音扰民,夜里施工\n".encode() + b"\xff\xfe bad,x\n"
                  + "积水,路面积水\n,\n".encode())
    reader = open_reader(p)
    chunks = list(_chunks(iter(reader), [0, 1], None, 0, chunk_size=100, max_chars=2000,
                          empty=["", ""]))
    reader.close()
    (last, rows, truncated), texts = chunks[0]
    assert last == 4 and truncated == 0
    assert texts == ["噪音扰民\n夜里施工", "积水\n路面积水"]
    # Every record stays, in order; the bad ones carry their reason.
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    bad = [(r[0], r[4]) for r in rows if isinstance(r[4], BadRow)]
    assert [(row, b.code) for row, b in bad] == [(2, "bad_encoding"), (4, "empty_text")]
    assert "\ufffd" in bad[0][1].excerpt  # the excerpt shows where the bytes were


def test_resume_skip_and_truncation(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text("t\n" + "".join(f"msg {i} " + "长" * 30 + "\n" for i in range(10)), encoding="utf-8")
    reader = open_reader(p)
    chunks = list(_chunks(iter(reader), [0], None, skip=6, chunk_size=3, max_chars=10,
                          empty=[""]))
    reader.close()
    assert [c[0][0] for c in chunks] == [9, 10]  # last row of each chunk
    texts = [t for _, ts in chunks for t in ts]
    assert texts[0].startswith("msg 6") and all(len(t) == 10 for t in texts)
    assert sum(c[0][2] for c in chunks) == 4


def test_jsonl_union_of_keys_and_bad_lines(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join([
        json.dumps({"id": 1, "title": "路灯", "detail": "不亮"}, ensure_ascii=False),
        "{broken",
        "[1, 2]",
        json.dumps({"id": 2, "title": "噪音", "channel": "app"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    cols, rows = rows_of(p)
    assert cols == ["id", "title", "detail", "channel"]
    assert rows[0][2] == [1, "路灯", "不亮", MISSING]
    assert rows[1][2].code == "bad_json" and rows[2][2].code == "not_an_object"
    assert rows[3][2] == [2, "噪音", MISSING, "app"]
    assert [r[1] for r in rows] == [1, 2, 3, 4]


def test_xlsx_typed_cells_blank_rows_and_extra_cells(tmp_path):
    import openpyxl

    p = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "title", "detail"])
    ws.append([1, "路灯", "不亮"])
    ws.append([None, None, None])
    ws.append([2, "噪音", None])
    ws.append([3, "x", "y", "unexpected"])
    wb.save(p)
    cols, rows = rows_of(p)
    assert cols == ["id", "title", "detail"]
    assert rows[0][2] == [1, "路灯", "不亮"]
    assert rows[1][:2] == (2, 4) and rows[1][2] == [2, "噪音", ""]
    assert rows[2][2].code == "wrong_column_count"


def test_append_file_truncates_to_checkpoint(tmp_path):
    f = AppendFile(tmp_path / "spool", 0)
    f.write(b"row1\n")
    committed = f.offset
    f.write(b"row2-after-checkpoint\n")
    f.sync()
    f.close()
    g = AppendFile(tmp_path / "spool", committed)  # as a resumed run reopens it
    g.write(b"row2\n")
    g.close()
    assert (tmp_path / "spool").read_bytes() == b"row1\nrow2\n"


def test_formatter_replaces_old_prediction_columns():
    fmt = RowFormatter("csv", ["id", "pred_type", "title"], ["pred_type", "pred_department"])
    assert fmt.columns == ["id", "title", "pred_type", "pred_department"]
    out = fmt.rows([(["7", "old", "路灯"], ("fault", "城管"))]).decode()
    assert out == "7,路灯,fault,城管\n"
    jl = RowFormatter("jsonl", ["id", "x"], ["pred_type"])
    assert json.loads(jl.rows([([1, MISSING], (True,))])) == {"id": 1, "pred_type": True}


@pytest.mark.parametrize("values", [["路灯", "不亮", "三天了"], ["", "只有正文\n第二行", ""],
                                    ["标题", "", "补充"], [" 空格 ", " 正文 ", ""]])
def test_join_matches_the_trainer(values):
    pytest.importorskip("training.train_classifier")
    from hotline.batch.runner import _join_text
    from training.train_classifier import join_text

    cols = ["title", "detail", "extra"]
    got, problem = _join_text(values, [0, 1, 2])
    assert problem is None and got == join_text(dict(zip(cols, values)), cols)
    got2, _ = _join_text(values, [0, 1])
    assert got2 == join_text(dict(zip(cols, values)), cols[:2])
