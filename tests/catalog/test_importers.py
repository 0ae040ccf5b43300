"""manage.py import_catalog and catalog.importers: Myntra, Shopify and plain CSV/JSONL files."""
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.importers import run_import
from catalog.importers.myntra import product_type
from catalog.models import Category, Product, Variant

MYNTRA_CSV = """\
Product_ID,Product_Name,Product_Brand,Gender,Price,Num_Images,Description,Primary_Color
10017413,DKNY Unisex Black & Grey Printed Medium Trolley Bag,DKNY,Unisex,11745,7,"Black and grey trolley bag, secured with a TSA lockOne handle on the top",Black
10016283,EthnoVogue Women Beige Made to Measure Kurta with Palazzos,EthnoVogue,Women,5810,7,"A kurta set
over two lines",Beige
10009781,SPYKAR Women Pink Super Skinny Fit Cropped Jeans,SPYKAR,Women,899,7,Pink cropped jeans,Pink
10000001,Broken Price Shirt,Acme,Men,cheap,3,Nope,Blue
10000002,No Brand Casual Shirt,,Men,999,3,Nope,Blue
10000003,Odd Gender Casual Shirt,Acme,Martians,999,3,Nope,Blue
10015921,Raymond Men Blue Self-Design Single-Breasted Bandhgala Suit,Raymond,Men,5599,5,Blue bandhgala suit,Blue
"""

SHOPIFY_CSV = """\
Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Variant SKU,Variant Inventory Qty,Variant Price,Image Src,SEO Title,SEO Description,Google Shopping / Gender
linen-shirt,Linen Shirt,"<p>A <strong>breezy</strong> shirt&nbsp;for summer.</p><ul><li>100% linen</li></ul>",Oakline,Apparel & Accessories > Clothing > Shirts & Tops,Shirts,"summer, linen",TRUE,Size,S,Color,White,LS-S-WHT,5,1999.00,https://example.com/a.jpg,Linen Shirt | Oakline,A breezy linen shirt.,male
linen-shirt,,,,,,,,,M,,White,LS-M-WHT,0,1999.00,,,,
linen-shirt,,,,,,,,,L,,White,LS-L-WHT,-2,2199.00,,,,
linen-shirt,,,,,,,,,,,,,,,https://example.com/b.jpg,,,
wrap-dress,Wrap Dress,<p>Flowing.</p>,Petal,,Dresses,women,TRUE,Title,Default Title,,,,7,2999.00,,,,female
broken-dress,Broken Dress,<p>x</p>,Petal,,Dresses,,TRUE,Size,M,,,BD-M,3,free,,,,
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _errors(report) -> list[tuple[int, str]]:
    return [(e.line, e.reason) for e in report.errors]


def test_myntra_import_derives_category_audience_sizes_and_skus(db, tmp_path):
    report = run_import(path=_write(tmp_path, "m.csv", MYNTRA_CSV), fmt="myntra", progress=False)

    assert (report.result.created, report.result.updated, report.result.unchanged) == (4, 0, 0)
    bag = Product.objects.get(external_id="myntra:10017413")
    assert (bag.category.parent.name, bag.category.name, bag.audience) == ("Unisex", "Luggage", "unisex")
    assert (bag.brand, bag.colour, bag.price, bag.currency) == ("DKNY", "Black", Decimal("11745.00"), "INR")
    assert bag.description == "Black and grey trolley bag, secured with a TSA lock. One handle on the top"
    assert bag.attributes == {"type": "Trolley Bag", "pattern": "printed", "images": 7}
    assert list(bag.variants.values_list("sku", "size")) == [("MYN-10017413", "")]
    kurta_set = Product.objects.get(external_id="myntra:10016283")
    assert (kurta_set.category.parent.name, kurta_set.category.name) == ("Women", "Kurta Sets")
    jeans = Product.objects.get(external_id="myntra:10009781")
    sizes = list(jeans.variants.values_list("size", flat=True))
    assert 3 <= len(sizes) <= 6 and set(sizes) <= {"28", "30", "32", "34", "36", "38"}
    assert all(sku == f"MYN-10009781-{size}" for sku, size in jeans.variants.values_list("sku", "size"))
    assert jeans.attributes["fit"] == "super skinny"
    assert Category.objects.get(slug="men-suits").parent.slug == "men"


def test_myntra_import_reports_bad_rows_with_their_line_numbers(db, tmp_path):
    report = run_import(path=_write(tmp_path, "m.csv", MYNTRA_CSV), fmt="myntra", progress=False)

    # The kurta set's description spans lines 3-4, so the rows after it start one line later.
    assert _errors(report) == [
        (6, "price 'cheap' is not a number"),
        (7, "missing Product_Brand"),
        (8, "unknown audience 'Martians'"),
    ]


def test_myntra_import_run_twice_changes_nothing(db, tmp_path):
    path = _write(tmp_path, "m.csv", MYNTRA_CSV)
    run_import(path=path, fmt="myntra", progress=False)
    Variant.objects.filter(sku="MYN-10017413").update(stock=1)  # a sale since the first import
    snapshot = list(Product.objects.order_by("pk").values_list("pk", "slug", "updated_at"))

    report = run_import(path=path, fmt="myntra", progress=False)

    assert (report.result.created, report.result.updated, report.result.unchanged) == (0, 0, 4)
    assert (report.result.variants_created, report.result.variants_updated) == (0, 0)
    assert list(Product.objects.order_by("pk").values_list("pk", "slug", "updated_at")) == snapshot
    assert Variant.objects.get(sku="MYN-10017413").stock == 1


def test_myntra_import_is_deterministic_about_sizes_and_stock(db, tmp_path):
    path = _write(tmp_path, "m.csv", MYNTRA_CSV)
    run_import(path=path, fmt="myntra", progress=False)
    first = sorted(Variant.objects.values_list("sku", "size", "stock"))
    Product.objects.all().delete()

    run_import(path=path, fmt="myntra", progress=False)

    assert sorted(Variant.objects.values_list("sku", "size", "stock")) == first


def test_myntra_import_in_small_batches_gives_the_same_result(db, tmp_path):
    report = run_import(path=_write(tmp_path, "m.csv", MYNTRA_CSV), fmt="myntra", batch_size=1, progress=False)

    assert report.result.created == 4
    assert len(report.errors) == 3


@pytest.mark.parametrize(
    "title, brand, category",
    [
        ("Roadster Men Navy Slim Fit Checked Casual Shirt", "Roadster", "Shirts"),
        ("Pepe Jeans Men Blue Slim Fit Casual Shirt", "Pepe Jeans", "Shirts"),
        ("HRX Men Black Round Neck T-shirt", "HRX", "T-Shirts"),
        ("Libas Women Blue Printed Kurta with Palazzos", "Libas", "Kurta Sets"),
        ("Libas Women Blue Printed Straight Kurta", "Libas", "Kurtas"),
        ("Bohemia Crystal Set of 6 Wine Glasses", "Bohemia Crystal", "Kitchen & Dining"),
        ("Swayam Blue Door Curtains", "Swayam", "Curtains"),
        ("Something Entirely Unknown", "", "Other"),
    ],
)
def test_product_type_is_the_longest_known_phrase_in_the_title(title, brand, category):
    assert product_type(title, brand=brand).category == category


def test_shopify_import_groups_rows_by_handle_into_variants(db, tmp_path):
    report = run_import(path=_write(tmp_path, "s.csv", SHOPIFY_CSV), fmt="shopify", progress=False)

    assert report.result.created == 2
    assert _errors(report) == [(7, "price 'free' is not a number"), (7, "no valid variant rows")]
    shirt = Product.objects.get(external_id="shopify:linen-shirt")
    assert (shirt.slug, shirt.brand, shirt.audience, shirt.price, shirt.colour) == (
        "linen-shirt", "Oakline", "men", Decimal("1999.00"), "White"
    )
    assert (shirt.category.parent.name, shirt.category.name) == ("Men", "Shirts")
    assert shirt.description == "A breezy shirt for summer.\n100% linen"
    assert (shirt.seo_title, shirt.seo_description) == ("Linen Shirt | Oakline", "A breezy linen shirt.")
    assert shirt.attributes == {"tags": ["summer", "linen"]}
    assert list(shirt.variants.order_by("sku").values_list("sku", "size", "colour", "price", "stock")) == [
        ("LS-L-WHT", "L", "White", Decimal("2199.00"), 0),
        ("LS-M-WHT", "M", "White", Decimal("1999.00"), 0),
        ("LS-S-WHT", "S", "White", Decimal("1999.00"), 5),
    ]
    dress = Product.objects.get(external_id="shopify:wrap-dress")
    assert (dress.audience, dress.category.parent.name) == ("women", "Women")
    assert list(dress.variants.values_list("sku", "size", "colour", "stock")) == [("wrap-dress", "", "", 7)]


def test_shopify_import_run_twice_changes_nothing(db, tmp_path):
    path = _write(tmp_path, "s.csv", SHOPIFY_CSV)
    run_import(path=path, fmt="shopify", progress=False)

    report = run_import(path=path, fmt="shopify", progress=False)

    assert (report.result.created, report.result.updated, report.result.unchanged) == (0, 0, 2)


def test_shopify_import_updates_stock_the_file_states(db, tmp_path):
    run_import(path=_write(tmp_path, "s.csv", SHOPIFY_CSV), fmt="shopify", progress=False)
    changed = SHOPIFY_CSV.replace("LS-S-WHT,5,", "LS-S-WHT,9,")

    report = run_import(path=_write(tmp_path, "s2.csv", changed), fmt="shopify", progress=False)

    assert (report.result.updated, report.result.variants_updated) == (1, 1)
    assert Variant.objects.get(sku="LS-S-WHT").stock == 9


def test_csv_import_with_a_column_mapping(db, tmp_path):
    text = (
        "id,name,maker,dept,cost,size,qty\n"
        "TEE-1,Plain Tee,Acme,Men > T-Shirts,499,M,4\n"
        "TEE-1,Plain Tee,Acme,Men > T-Shirts,499,L,0\n"
        ",No Id Tee,Acme,Men > T-Shirts,499,M,4\n"
        "MUG-1,Mug,Kiln,Home/Kitchen,-3,,1\n"
    )
    mapping = {"external_id": "id", "title": "name", "brand": "maker", "category": "dept", "price": "cost",
               "stock": "qty"}

    report = run_import(path=_write(tmp_path, "c.csv", text), fmt="csv", mapping=mapping, progress=False)

    assert report.result.created == 1
    assert _errors(report) == [
        (4, "missing external_id and sku (one is needed to match the row again)"),
        (5, "price '-3' is not a positive amount"),
    ]
    tee = Product.objects.get(external_id="TEE-1")
    assert tee.category.slug == "men-t-shirts"
    assert list(tee.variants.order_by("sku").values_list("sku", "size", "stock")) == [("TEE-1-l", "L", 0),
                                                                                      ("TEE-1-m", "M", 4)]


def test_jsonl_import_reads_objects_and_reports_bad_lines(db, tmp_path):
    lines = [
        json.dumps({"sku": "LAMP-1", "title": "Lamp", "brand": "Kiln", "category": "Home > Lamps", "price": 1299,
                    "stock": 3, "attributes": {"material": "ceramic"}, "audience": "unisex"}),
        "{not json",
        "",
        json.dumps(["a", "list"]),
        json.dumps({"sku": "LAMP-2", "title": "Lamp 2", "brand": "Kiln", "category": "Home > Lamps", "price": 1,
                    "attributes": "[1]"}),
    ]

    report = run_import(path=_write(tmp_path, "p.jsonl", "\n".join(lines)), fmt="jsonl", progress=False)

    assert report.result.created == 1
    assert [line for line, _ in _errors(report)] == [2, 4, 5]
    lamp = Product.objects.get(external_id="LAMP-1")
    assert (lamp.attributes, lamp.price, lamp.variants.get().stock) == ({"material": "ceramic"}, Decimal("1299.00"), 3)


def test_import_command_prints_a_summary_and_the_bad_rows(db, tmp_path, capsys):
    path = _write(tmp_path, "m.csv", MYNTRA_CSV)

    call_command("import_catalog", str(path), "--format", "myntra", "--no-progress")

    out, err = capsys.readouterr()
    assert "4 created, 0 updated, 0 unchanged, 3 bad rows skipped" in out
    assert "line 6: 10000001: price 'cheap' is not a number" in err


def test_import_command_accepts_a_mapping_option(db, tmp_path, capsys):
    path = _write(tmp_path, "c.csv", "code,name,maker,dept,cost\nA-1,Cap,Acme,Men > Caps,299\n")

    call_command("import_catalog", str(path), "--format", "csv", "--no-progress",
                 "--mapping", "external_id=code,title=name,brand=maker,category=dept,price=cost")

    assert Product.objects.get().title == "Cap"


@pytest.mark.parametrize(
    "args, message",
    [
        (["/no/such/file.csv", "--format", "myntra"], "no such file: /no/such/file.csv"),
        (["{path}", "--format", "csv", "--mapping", "title"], "bad --mapping entry 'title': use field=column"),
        (["{path}", "--format", "csv", "--mapping", "title=missing"], "column(s) missing named in --mapping"),
        (["{path}", "--format", "csv", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_import_command_fails_clearly_on_a_bad_file_or_option(db, tmp_path, args, message):
    path = _write(tmp_path, "c.csv", "title\nx\n")

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_catalog", *[a.replace("{path}", str(path)) for a in args], "--no-progress")


def test_import_command_rejects_an_unknown_format(db, tmp_path):
    with pytest.raises(CommandError, match="invalid choice: 'amazon'"):
        call_command("import_catalog", str(_write(tmp_path, "c.csv", "x\n")), "--format", "amazon")


def test_import_of_a_file_that_is_not_utf8_fails_clearly(db, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("title,brand\nCaf\xe9,Acme\n".encode("latin-1"))

    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_catalog", str(path), "--format", "csv", "--no-progress")


MYNTRA_DATASET = Path("/work/shared/datasets/myntra_catalog/products.csv")


@pytest.mark.slow
@pytest.mark.skipif(not MYNTRA_DATASET.exists(), reason="the Myntra dataset is not on this machine")
def test_import_of_the_real_myntra_catalog(db):
    report = run_import(path=MYNTRA_DATASET, fmt="myntra", progress=False)

    assert report.errors == []
    assert report.result.created == 11_491
    assert Product.objects.count() == 11_491
    assert Product.objects.filter(category__name="Other").count() < 100
