"""The Myntra catalog CSV (Product_ID, Product_Name, Product_Brand, Gender, Price, Num_Images, Description,
Primary_Color). It has no category column: the product type is read from the title (longest match from a
curated list) and combined with the gender into a two-level tree, e.g. Women > Kurtas. Sizes and stock are
not in the file; apparel and footwear get a few sizes, and every variant a starting stock, both derived from
the product id so a re-import gives the same answer."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.utils.text import slugify

from catalog.importers.base import Parsed, RowProblem, SourceRow, parse_audience, parse_price, text
from catalog.models import Audience
from catalog.services import ProductRecord, VariantRecord


@dataclass(frozen=True)
class ProductType:
    category: str  # the second-level category, e.g. "Kurta Sets"
    label: str  # one of them, e.g. "Kurta Set" (the placeholder image's initials come from it)
    sizes: str  # size scheme: "alpha", "waist", "shoe", "bra" or "" (one size)
    department: str  # a top-level category that overrides the gender ("Home", "Beauty"), or ""
    phrases: tuple[str, ...]  # lower-case; matched as whole words, plural "s"/"es" optional


def _t(category: str, label: str, sizes: str, phrases: str, department: str = "") -> ProductType:
    return ProductType(category, label, sizes, department, tuple(p.strip() for p in phrases.split("|")))


PRODUCT_TYPES = [
    _t("Shirts", "Shirt", "alpha", "shirt|overshirt"),
    _t("T-Shirts", "T-Shirt", "alpha", "t-shirt|tshirt|t shirt|tee|henley|polo shirt"),
    _t("Tops", "Top", "alpha", "top|tunic|blouse|bodysuit|body suit|camisole|crop top|tank top"),
    _t("Sweatshirts", "Sweatshirt", "alpha", "sweatshirt|hoodie"),
    _t("Sweaters & Cardigans", "Sweater", "alpha", "sweater|pullover|cardigan|shrug|jumper"),
    _t("Jackets & Coats", "Jacket", "alpha", "jacket|bomber|puffer|waistcoat|overcoat|coat|gilet|parka|windcheater"),
    _t("Blazers", "Blazer", "alpha", "blazer"),
    _t("Suits", "Suit", "alpha", "suit|bandhgala suit|tuxedo|formal suit|single-breasted suit"),
    _t("Sherwanis", "Sherwani", "alpha", "sherwani|sherwani set"),
    _t("Kurtas", "Kurta", "alpha", "kurta|kurti"),
    _t(
        "Kurta Sets", "Kurta Set", "alpha",
        "kurta set|kurti set|kurta with palazzo|kurta with palazzos|kurta with trousers|kurta with churidar"
        "|kurta with dupatta|kurta with pyjamas|kurta with skirt|kurta with salwar|kurta with sharara"
        "|kurti with palazzos|kurti with trousers|kurta pyjama set|salwar suit|diwan set",
    ),
    _t("Dress Material", "Dress Material", "", "dress material|unstitched dress material"),
    _t("Sarees", "Saree", "", "saree|sari"),
    _t("Dupattas", "Dupatta", "", "dupatta"),
    _t("Scarves & Stoles", "Scarf", "", "scarf|scarves|stole|shawl|muffler"),
    _t("Dresses", "Dress", "alpha", "dress|gown|maxi dress|shirt dress"),
    _t("Jumpsuits", "Jumpsuit", "alpha", "jumpsuit|playsuit|dungarees|dungaree|romper"),
    _t("Skirts", "Skirt", "alpha", "skirt|skorts|sarong"),
    _t("Palazzos & Culottes", "Palazzo", "alpha", "palazzo|palazzos|culottes|sharara"),
    _t(
        "Leggings", "Leggings", "alpha",
        "leggings|legging|jeggings|jegging|treggings|tights|churidar|churidar leggings",
    ),
    _t("Jeans", "Jeans", "waist", "jeans"),
    _t("Trousers", "Trousers", "waist", "trousers|chinos|khakis|pants|pant|cargos|cargo|dhoti pants|slacks"),
    _t("Track Pants & Joggers", "Joggers", "alpha", "joggers|track pants|trackpants|sweatpants"),
    _t("Shorts", "Shorts", "waist", "shorts|bermudas|capris"),
    _t("Tracksuits", "Tracksuit", "alpha", "tracksuit"),
    _t("Lingerie & Innerwear", "Bra", "bra", "bra|bras|bralette|full-coverage bras|lingerie set"),
    _t("Innerwear", "Briefs", "alpha", "briefs|brief|boxer|boxers|trunk|trunks|vest|innerwear"),
    _t(
        "Nightwear", "Nightwear", "alpha",
        "pyjamas|night suit|nightdress|night dress|sleep shirt|lounge pants|lounge set",
    ),
    _t("Socks", "Socks", "", "socks|sock|shoe liners"),
    _t("Sneakers", "Sneakers", "shoe", "sneakers|sneaker"),
    _t(
        "Sports Shoes", "Sports Shoe", "shoe",
        "running shoes|walking shoes|training shoes|football shoes|sports shoes|gym shoes|tennis shoes"
        "|basketball shoes|trekking shoes|cricket shoes|badminton shoes",
    ),
    _t("Casual Shoes", "Shoe", "shoe", "shoes|loafers|slip-ons|slip-on|boat shoes|driving shoes|espadrilles"),
    _t("Formal Shoes", "Formal Shoe", "shoe", "derbys|oxfords|brogues|monks|formal shoes|formal slip-ons"),
    _t("Boots", "Boots", "shoe", "boots|boot"),
    _t("Flats", "Flats", "shoe", "flats|ballerinas|mojaris|juttis|t-strap flats"),
    _t("Heels", "Heels", "shoe", "heels|pumps|wedges|peep toes|mules|stilettos|flatforms|platforms"),
    _t("Sandals", "Sandals", "shoe", "sandals|floaters"),
    _t("Flip-Flops & Sliders", "Flip-Flops", "shoe", "flip-flops|flip flops|sliders|slippers|clogs"),
    _t("Bags", "Bag", "", "bag|handbag|tote|clutch|pouch|purse|satchel|sling|hobo bag|shoulder bag|sling bag"),
    _t("Backpacks", "Backpack", "", "backpack|rucksack"),
    _t("Luggage", "Trolley Bag", "", "trolley bag|trolley suitcase|suitcase|duffle bag|luggage"),
    _t("Wallets", "Wallet", "", "wallet|card holder"),
    _t("Belts", "Belt", "", "belt|leather belt"),
    _t("Ties & Cufflinks", "Cufflinks", "", "cufflinks|tie|pocket square|tie pin|bow tie"),
    _t("Caps & Hats", "Cap", "", "cap|beanie|hat"),
    _t("Sunglasses", "Sunglasses", "", "sunglasses|glasses|eyewear"),
    _t("Watches", "Watch", "", "watch|analogue watch|digital watch|smart watch|smartwatch"),
    _t("Earrings", "Earrings", "", "earrings|earring|jhumkas|jhumka|studs|chandbalis|hoops"),
    _t(
        "Jewellery", "Jewellery", "",
        "necklace|choker|pendant|ring|finger ring|bracelet|bangle|bangles|anklet|maang tikka|maang tika"
        "|jewellery set|jewelry set|mangalsutra|nosepin|nose pin|brooch|kada|chain|rakhi",
    ),
    _t("Curtains", "Curtain", "", "curtain|curtains|door curtain|window curtain", "Home"),
    _t("Cushion Covers", "Cushion Cover", "", "cushion cover|pillow cover|cushion|pillow", "Home"),
    _t("Bedding", "Bedsheet", "", "bedsheet|bed sheet|dohar|comforter|duvet cover|quilt|blanket|bed cover", "Home"),
    _t(
        "Rugs & Mats", "Rug", "",
        "rug|carpet|bath rug|bathmat|bath mat|mat|doormat|door mat|runner|microfibre runner",
        "Home",
    ),
    _t("Table Linen", "Table Linen", "", "placemat|placemats|table placemat|table runner|napkins|table cover", "Home"),
    _t(
        "Kitchen & Dining", "Mug", "",
        "mug|mugs|coffee mug|cup|cups|cups set|bowl|bowls|plate|platter|tray|jar|dinner set|kulladhs|glass"
        "|glass set|wine glass|cocktail glass|whiskey glass|coasters|shaker set",
        "Home",
    ),
    _t("Bath", "Towel", "", "towel|towels|bath towel|soap dispenser|dispenser|bath accessories", "Home"),
    _t(
        "Home Decor", "Decor", "",
        "lamp|table lamp|floor lamp|shade|clock|wall clock|showpiece|statue|face statue|figurine|vase|planter"
        "|planters|pot|wall shelf|shelf|shelves|frame|photo frame|desk organiser|organiser|organizer|tissue holder"
        "|holder|dry bin|bin|candle|stand",
        "Home",
    ),
    _t(
        "Makeup", "Makeup", "",
        "lipstick|lip gloss|lip gelato|eye definer|gloss|kajal|eyeliner|nail polish|foundation|compact|mascara"
        "|lip liner|highlighter|eyeshadow|eye shadow|palette|concealer|blush|cheek powder|cheekpowder|lip shine"
        "|lip color|lip colour|makeup kit|kit|sharpener|brush",
        "Beauty",
    ),
    _t(
        "Fragrances", "Perfume", "",
        "perfume|perfumes|body perfume|body perfumes|eau de toilette|eau de parfum|deodorant|deodorants|body mist"
        "|mists|fragrance|attar|edt|edp",
        "Beauty",
    ),
    _t(
        "Skincare", "Skincare", "",
        "face wash|cream|serum|moisturiser|moisturizer|sunscreen|lotion|shampoo|conditioner|soap|scrub|regime"
        "|face mask|mask|masque|cleanser|creme|softener|hair growth oil|toner|body wash|hair oil|beauty set",
        "Beauty",
    ),
]
PRODUCT_TYPES += [
    _t("Grooming", "Grooming", "", "hair dryer|hair curler|straightener|epilator|styler|trimmer|shaver", "Beauty"),
    _t("Audio", "Earphones", "", "earphones|headphones|earbuds|speaker", "Electronics"),
    _t("Phone Cases", "Phone Case", "", "phone case|mobile case|iphone case|case|mobile cover", "Electronics"),
]
OTHER = ProductType("Other", "Item", "", "", ())

_PHRASES = {phrase: kind for kind in PRODUCT_TYPES for phrase in kind.phrases}
_MAX_WORDS = max(len(phrase.split()) for phrase in _PHRASES)
_WORD = re.compile(r"[a-z0-9][a-z0-9&'+-]*")

_TOP_LEVEL = {
    Audience.WOMEN: "Women", Audience.MEN: "Men", Audience.UNISEX: "Unisex", Audience.GIRLS: "Girls",
    Audience.BOYS: "Boys", Audience.KIDS: "Kids",
}
_ADULT_SIZES = {
    "alpha": ["XS", "S", "M", "L", "XL", "XXL"],
    "waist": ["28", "30", "32", "34", "36", "38"],
    "bra": ["32B", "34B", "34C", "36B", "36C", "38C"],
}
_SHOE_SIZES = {
    Audience.WOMEN: ["UK3", "UK4", "UK5", "UK6", "UK7", "UK8"],
    Audience.MEN: ["UK6", "UK7", "UK8", "UK9", "UK10", "UK11"],
}
_KIDS_SIZES = ["2-3Y", "4-5Y", "6-7Y", "8-9Y", "10-11Y", "12-13Y"]
_KIDS_SHOE_SIZES = ["UK10C", "UK12C", "UK1", "UK2", "UK3", "UK4"]
_PATTERN = re.compile(r"\b(" + "|".join([
    "printed", "solid", "striped", "checked", "embroidered", "self-design", "colourblocked", "woven design",
    "floral", "geometric", "textured", "washed", "sequinned", "embellished", "dyed", "bandhani", "ethnic motifs",
]) + r")\b")
_FIT = re.compile(r"\b((?:super |extra )?[\w-]+) fit\b", re.I)
# "…a TSA lockOne handle…": Myntra glued sentences together. A lower-case word running into a capitalised one
# marks the seam; brand names like "EthnoVogue" start with a capital and are left alone.
_GLUED = re.compile(r"\b([a-z]{2,})([A-Z][a-z]+)")


def product_type(title: str, *, brand: str = "") -> ProductType:
    """The product type named in a title: the longest known phrase (plural "s"/"es" optional), and of
    equally long ones the last, since titles end with what the thing is ("Printed Kurta with Palazzos").
    A leading brand is skipped: "Pepe Jeans ... Casual Shirt" is a shirt."""
    lowered = title.lower()
    if brand and lowered.startswith(brand.lower()):
        lowered = lowered[len(brand):]
    words = _WORD.findall(lowered)
    best: tuple[int, int] | None = None
    found = OTHER
    for start in range(len(words)):
        for end in range(start + 1, min(start + _MAX_WORDS, len(words)) + 1):
            phrase = " ".join(words[start:end])
            base = next((p for p in (phrase, phrase[:-1], phrase[:-2]) if p in _PHRASES), None)
            if base is None or (phrase != base and not phrase.endswith(("s", "es"))):
                continue
            score = (len(base), start)
            if best is None or score > best:
                best, found = score, _PHRASES[base]
    return found


def _number(*parts: str) -> int:
    return int.from_bytes(hashlib.sha1(":".join(parts).encode()).digest()[:8], "big")


def _sizes(kind: ProductType, audience: str, product_id: str) -> list[str]:
    if not kind.sizes:
        return []
    kids = audience in (Audience.BOYS, Audience.GIRLS, Audience.KIDS)
    if kind.sizes == "shoe":
        scheme = _KIDS_SHOE_SIZES if kids else _SHOE_SIZES.get(audience, _SHOE_SIZES[Audience.MEN])
    else:
        scheme = _KIDS_SIZES if kids else _ADULT_SIZES[kind.sizes]
    number = _number(product_id, "sizes")
    count = 3 + number % 4  # 3 to 6 consecutive sizes
    start = (number // 7) % (len(scheme) - count + 1)
    return scheme[start:start + count]


def _starting_stock(product_id: str, size: str) -> int:
    roll = _number(product_id, size, "stock") % 100
    if roll < 8:
        return 0  # some sizes sold out
    if roll < 22:
        return 1 + roll % 5  # some nearly
    return 6 + roll % 45


def _attributes(title: str, kind: ProductType, images: str) -> dict[str, str | int]:
    lowered = title.lower()
    attributes: dict[str, str | int] = {"type": kind.label}
    if pattern := _PATTERN.search(lowered):
        attributes["pattern"] = pattern.group(1)
    if fit := _FIT.search(title):
        attributes["fit"] = fit.group(1).lower()
    if images.isdigit():
        attributes["images"] = int(images)
    return attributes


def parse(rows: Iterable[SourceRow | RowProblem]) -> Iterator[Parsed]:
    for row in rows:
        if isinstance(row, RowProblem):
            yield row
            continue
        data = row.data
        product_id, title, brand = text(data, "Product_ID"), text(data, "Product_Name"), text(data, "Product_Brand")
        missing = [name for name, value in (("Product_ID", product_id), ("Product_Name", title),
                                             ("Product_Brand", brand)) if not value]
        if missing:
            yield RowProblem(row.line, product_id, f"missing {', '.join(missing)}")
            continue
        try:
            price = parse_price(text(data, "Price"))
            audience = parse_audience(text(data, "Gender"))
        except ValueError as error:
            yield RowProblem(row.line, product_id, str(error))
            continue
        kind = product_type(title, brand=brand)
        top = kind.department or _TOP_LEVEL.get(audience, "Unisex")
        sizes = _sizes(kind, audience, product_id)
        sku = f"MYN-{product_id}"
        variants = [
            VariantRecord(sku=f"{sku}-{size}" if size else sku, price=price, size=size,
                          colour=text(data, "Primary_Color"), initial_stock=_starting_stock(product_id, size))
            for size in (sizes or [""])
        ]
        yield ProductRecord(
            external_id=f"myntra:{product_id}",
            title=title,
            brand=brand,
            category_path=(top, kind.category),
            price=price,
            variants=variants,
            description=_GLUED.sub(r"\1. \2", text(data, "Description")),
            attributes=_attributes(title, kind, text(data, "Num_Images")),
            audience=audience,
            colour=text(data, "Primary_Color"),
            currency="INR",
            slug=f"{slugify(title)[:200]}-{slugify(product_id)}",
            line=row.line,
        )
