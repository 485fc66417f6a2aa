"""A multi-image row's pictures (`List(Image())`, keyed `<row key>#image<i>`) and a repeated
key's rows (`<key>#row<n>`) get export names without `#`.

Before: an export named them `00000000#image0.jpg`: `#` starts a URL's fragment (a link to
the picture in a dataset viewer or on a static host stops at it) and a comment in shells. Now
the export name has `_` (`00000000_image0.jpg`); rows keep their `#image<i>` keys, and
`names.distinct` keeps a name apart from a key that is already spelled with `_`."""

from __future__ import annotations

from vlmcli.exports.names import distinct, item_name


def test_item_names_have_no_hash():
    assert item_name("00000000#image0") == "00000000_image0"
    assert item_name("r0#image1") == "r0_image1"
    assert item_name("images/a.jpg#row3") == "images_a_jpg_row3"


def test_item_names_flatten_as_before():
    assert item_name("images/a.jpg") == "images_a_jpg"
    assert item_name("images\\0001.jpg") == "images_0001_jpg"
    assert item_name("inv/march.pdf::page-0003") == "inv_march_pdf/page-0003"
    assert item_name("caf\udce9.jpg") == "caf_xe9_jpg"  # bytes that are not UTF-8: escaped, its backslash flattened


def test_a_key_already_spelled_with_underscore_keeps_its_own_name():
    names = distinct({"s::x#image1": item_name("x#image1"), "s::x_image1": item_name("x_image1")})
    assert sorted(names.values()) == ["x_image1", "x_image1_1"]
