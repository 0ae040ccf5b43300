"""`python -m bench.search`: search quality and latency on the imported Myntra catalog (about 11.5k products).

Ours is hybrid ranking (keyword + MiniLM semantic, fused by reciprocal rank fusion, plus popularity); the
peer is keyword-only ranking (SQLite FTS5 bm25 / PostgreSQL ts_rank) over the very same parsed query and
filters, in the same run; semantic-only is reported too. Every mode gets the same query understanding
(filters read from the words, spelling correction), so the comparison isolates the ranker.

The labelled queries are generated from the catalog itself, generically (nothing is fitted to them):
- a "type" is a leaf category ("Kurtas", "Jeans"), named in queries by its own name or by a common shopper
  synonym from a fixed table of fashion vocabulary ("tee" for T-shirts, "slacks" for trousers);
- a query names a type, a colour (the product's colour facet) and an audience, in one of a few
  phrasings ("red kurtas for women", "ladies red kurta", "red kurta under 1200");
- its relevant products are exactly those of that type and colour, for that audience (unisex products suit
  women and men; kids' products suit boys and girls), and within the price if one is named;
- kinds: literal (the category's own word), paraphrase (a synonym), typo (one letter dropped or swapped),
  priced (a literal query with "under <the relevant products' median price>").
Triples are drawn with a fixed seed among those with 3 to 60 relevant products (so recall@10 means
something), at least one of them made for exactly the named audience (nobody asks for "cushion covers for
women" when all cushion covers are unisex).

Metrics: NDCG@10 with binary gains, recall@10 = relevant in the top 10 / all relevant. Latency: a whole
search as the results page runs it (`search_products` with the page's defaults and page size, CATALOG_PAGE_SIZE:
parse, keyword match, query embedding, fusion, the page's products and their stock), in a warm process
(vectors, facets and vocabulary loaded) but with the query embedding cold (process cache cleared, a fresh
on-disk cache), p50/p95 over all queries;
keyword and hybrid calls interleaved query by query, so background load hits both alike. Wall time and
the process's CPU time are both reported: on a shared, loaded machine wall time mostly measures the wait
for a core (on PostgreSQL the server's own work is in another process and not in the CPU time). Torch
runs one intra-op thread (OMP_NUM_THREADS=1), as web workers should.

The catalog is imported and indexed on first use into var/bench/search.sqlite3 (DATABASE_URL overrides).
Prints JSON lines; the last line is the summary.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

# One intra-op thread, as for a web worker: it embeds one short query at a time, where extra OpenMP threads
# only spin-wait (on a loaded 2-core machine a query took 1.7 s with two threads and 33 ms with one).
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = ROOT / "var" / "bench" / "search.sqlite3"
DEFAULT_CATALOG = ROOT.parent / "shared" / "datasets" / "myntra_catalog" / "products.csv"
K = 10
MIN_RELEVANT, MAX_RELEVANT = 3, 60
TARGET_RATIO, TARGET_P95_MS = 1.15, 60.0

# Common shopper words for a category, besides its own name: synonyms and spelling variants, never a kind
# of it ("bracelet" is not a synonym of jewellery) nor a word of another category's name ("stole" names
# Scarves & Stoles, not Dupattas). Fixed fashion vocabulary, not fitted to any result.
SYNONYMS = {
    "T-Shirts": ["tee", "tees"],
    "Shirts": ["button-down shirt", "button-up shirt"],
    "Kurtas": ["kurti", "ethnic tunic"],
    "Kurta Sets": ["salwar suit", "kurta pyjama set"],
    "Sarees": ["sari"],
    "Jeans": ["denims", "denim pants"],
    "Trousers": ["pants", "slacks"],
    "Track Pants & Joggers": ["sweatpants", "trackpants"],
    "Shorts": ["bermudas", "half pants"],
    "Sneakers": ["trainers", "kicks"],
    "Sports Shoes": ["athletic shoes", "gym shoes"],
    "Casual Shoes": ["casual footwear"],
    "Formal Shoes": ["office shoes", "dress shoes"],
    "Flip-Flops & Sliders": ["slippers", "chappals"],
    "Heels": ["high heels", "heeled sandals"],
    "Flats": ["ballerinas", "ballet flats"],
    "Sweatshirts": ["hoodie", "sweat shirt"],
    "Sweaters & Cardigans": ["jumper", "pullover", "knitwear"],
    "Jackets & Coats": ["outerwear"],
    "Blazers": ["sport coat", "suit jacket"],
    "Dresses": ["frock", "gown"],
    "Tops": ["blouse"],
    "Leggings": ["tights", "jeggings"],
    "Palazzos & Culottes": ["palazzo pants", "wide leg pants"],
    "Jumpsuits": ["playsuit", "romper"],
    "Backpacks": ["rucksack", "school bag"],
    "Bags": ["handbag", "purse"],
    "Wallets": ["billfold", "card holder"],
    "Watches": ["wristwatch", "timepiece"],
    "Sunglasses": ["shades", "goggles"],
    "Earrings": ["ear rings"],
    "Jewellery": ["jewelry"],
    "Caps & Hats": ["headwear"],
    "Innerwear": ["underwear"],
    "Lingerie & Innerwear": ["bra"],
    "Nightwear": ["pyjamas", "sleepwear"],
    "Dupattas": ["chunni"],
    "Curtains": ["drapes"],
    "Cushion Covers": ["pillow covers"],
    "Fragrances": ["perfume", "scent"],
}
AUDIENCE_WORDS = {
    "women": ["women", "ladies", "womens", "female"],
    "men": ["men", "gents", "mens", "male"],
    "boys": ["boys"],
    "girls": ["girls"],
}
AUDIENCE_SCOPE = {
    "women": {"women", "unisex"}, "men": {"men", "unisex"}, "boys": {"boys", "kids"}, "girls": {"girls", "kids"}
}
PHRASINGS = ["{colour} {type} for {audience}", "{audience} {colour} {type}", "{colour} {type} {audience}"]
# Plural-only words, which have no singular form to use.
_PLURAL_ONLY = {"jeans", "trousers", "shorts", "leggings", "pants", "sunglasses", "joggers", "palazzos", "culottes",
                "tights", "chinos", "briefs", "pyjamas", "bermudas", "heels", "flats", "sneakers", "sandals"}


@dataclass(frozen=True)
class Case:
    query: str
    kind: str  # literal, paraphrase, typo
    relevant: frozenset[int]


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def setup_django(database: Path | None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    if not os.environ.get("DATABASE_URL"):
        path = database or DEFAULT_DATABASE
        path.parent.mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    import django

    django.setup()


def ensure_catalog(catalog: Path) -> None:
    """Migrate, import the Myntra CSV if the catalog is empty, and bring the search index up to date."""
    from django.core.management import call_command
    from django.db import connection

    from catalog.models import Product
    from catalog.search.services import index_products

    call_command("migrate", verbosity=0, skip_checks=True)
    if not Product.objects.exists():
        if not catalog.is_file():
            sys.exit(f"bench.search: no catalog at {catalog}; pass --catalog PATH")
        # The importer's report goes to stderr: stdout carries only the benchmark's JSON lines.
        call_command("import_catalog", str(catalog), format="myntra", verbosity=0, skip_checks=True, stdout=sys.stderr)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # a freshly imported catalog has no planner statistics yet
    started = time.perf_counter()
    report = index_products()
    emit({"setup": "index", "checked": report.checked, "indexed": report.indexed,
          "seconds": round(time.perf_counter() - started, 1)})


def type_words(category: str) -> list[str]:
    """The ways a category's own name is typed: "Jackets & Coats" -> ["jackets", "jacket"]."""
    first = category.split("&")[0].strip().lower()
    words = [first]
    last = first.split()[-1]
    if last.endswith("s") and last not in _PLURAL_ONLY and not last.endswith("ss"):
        words.append(first[: -2] if last.endswith(("ches", "shes")) else first[:-1])
    return words


def typo(word: str, rng: random.Random) -> str | None:
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 6:
        return None
    i = rng.choice(letters[1:-1])
    if rng.random() < 0.5:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def build_cases(seed: int, triples: int) -> list[Case]:
    from catalog.models import Product

    rows = list(
        Product.objects.filter(is_active=True)
        .exclude(colour="")
        .values_list("id", "category__name", "colour", "audience", "price")
    )
    by_triple: dict[tuple[str, str, str], list[tuple[int, Decimal]]] = defaultdict(list)
    for pk, category, colour, audience, price in rows:
        for wanted, scope in AUDIENCE_SCOPE.items():
            if audience in scope:
                by_triple[(category, colour.lower(), wanted)].append((pk, price))
    audiences = {pk: audience for pk, _, _, audience, _ in rows}
    # A triple names an audience only if some of its products are made for exactly that audience: nobody
    # asks for "cushion covers for women" because cushion covers (all unisex) suit women too.
    eligible = sorted(
        key for key, items in by_triple.items()
        if MIN_RELEVANT <= len(items) <= MAX_RELEVANT and key[0] != "Other"
        and any(audiences[pk] == key[2] for pk, _ in items)
    )
    rng = random.Random(seed)
    chosen = rng.sample(eligible, min(triples, len(eligible)))
    cases: list[Case] = []
    for category, colour, audience in chosen:
        items = by_triple[(category, colour, audience)]
        relevant = frozenset(pk for pk, _ in items)
        phrasing = rng.choice(PHRASINGS)
        audience_word = rng.choice(AUDIENCE_WORDS[audience])

        def query(type_word: str, phrasing: str = phrasing) -> str:
            return phrasing.format(colour=colour, type=type_word, audience=audience_word)

        literal = rng.choice(type_words(category))
        cases.append(Case(query(literal), "literal", relevant))
        if category in SYNONYMS:
            cases.append(Case(query(rng.choice(SYNONYMS[category])), "paraphrase", relevant))
        misspelt = typo(literal, rng)
        if misspelt and rng.random() < 0.5:
            cases.append(Case(query(misspelt), "typo", relevant))
        if rng.random() < 0.3:
            prices = sorted(price for _, price in items)
            cap = prices[len(prices) // 2]
            within = frozenset(pk for pk, price in items if price <= cap)
            cases.append(Case(f"{query(literal)} under {cap:.0f}", "priced", within))
    return cases


def ndcg(ranked: list[int], relevant: frozenset[int]) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank, pk in enumerate(ranked[:K]) if pk in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), K)))
    return dcg / ideal if ideal else 0.0


def recall(ranked: list[int], relevant: frozenset[int]) -> float:
    return len(set(ranked[:K]) & relevant) / len(relevant) if relevant else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", type=Path, help=f"SQLite file (default {DEFAULT_DATABASE}); DATABASE_URL wins")
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--triples", type=int, default=150, help="attribute triples to draw queries from")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    setup_django(args.database)
    ensure_catalog(args.catalog)
    # Query embeddings must be cold for the latency pass: a fresh on-disk cache (products are in the DB).
    os.environ["MODEL_DIR"] = tempfile.mkdtemp(prefix="bench-search-")

    from django.conf import settings

    from catalog.search import ranking
    from catalog.search.selectors import MODES, search_products

    cases = build_cases(args.seed, args.triples)
    emit({"setup": "queries", "count": len(cases),
          "kinds": {kind: sum(c.kind == kind for c in cases) for kind in ("literal", "paraphrase", "typo", "priced")}})
    search_products(query="warm up the vectors and the model")

    page_size = getattr(settings, "CATALOG_PAGE_SIZE", 24)  # as search.views.results asks for
    latency: dict[str, list[float]] = {"keyword": [], "hybrid": []}
    cpu: dict[str, list[float]] = {"keyword": [], "hybrid": []}
    for n, case in enumerate(cases):
        order = ("keyword", "hybrid") if n % 2 == 0 else ("hybrid", "keyword")
        for mode in order:
            ranking.clear_caches(product_vectors=False)
            started, started_cpu = time.perf_counter(), time.process_time()
            search_products(query=case.query, mode=mode, page_size=page_size)
            latency[mode].append((time.perf_counter() - started) * 1000)
            # CPU time of the whole process (torch's threads included): what the call costs, whatever else
            # the machine is doing. On a shared, loaded machine wall time mostly measures the queue for a core.
            cpu[mode].append((time.process_time() - started_cpu) * 1000)

    scores: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in MODES}
    for case in cases:
        for mode in MODES:
            ranked = [p.pk for p in search_products(query=case.query, mode=mode, page_size=K).products]
            for key in ("all", case.kind):
                scores[mode][f"ndcg:{key}"].append(ndcg(ranked, case.relevant))
                scores[mode][f"recall:{key}"].append(recall(ranked, case.relevant))

    def mean(mode: str, metric: str, kind: str = "all") -> float:
        values = scores[mode][f"{metric}:{kind}"]
        return round(statistics.fmean(values), 4) if values else 0.0

    for mode in MODES:
        emit({"mode": mode, "ndcg@10": mean(mode, "ndcg"), "recall@10": mean(mode, "recall"),
              "by_kind": {kind: {"queries": len(scores[mode][f"ndcg:{kind}"]), "ndcg@10": mean(mode, "ndcg", kind),
                                 "recall@10": mean(mode, "recall", kind)}
                          for kind in ("literal", "paraphrase", "typo", "priced")}})
    for mode, values in latency.items():
        emit({"latency": mode, "unit": "ms", "p50": round(percentile(values, 0.5), 1),
              "p95": round(percentile(values, 0.95), 1), "max": round(max(values), 1), "n": len(values),
              "cpu_p50": round(percentile(cpu[mode], 0.5), 1), "cpu_p95": round(percentile(cpu[mode], 0.95), 1)})

    hybrid, keyword = mean("hybrid", "ndcg"), mean("keyword", "ndcg")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    emit({"bench": "search", "cases": [
        {"case": "ndcg_hybrid_vs_keyword", "unit": "ndcg@10", "ours": hybrid, "peer": keyword,
         "ratio": round(hybrid / keyword, 3) if keyword else None, "target_ratio": TARGET_RATIO,
         "semantic": mean("semantic", "ndcg"), "recall_ours": mean("hybrid", "recall"),
         "recall_peer": mean("keyword", "recall"), "recall_semantic": mean("semantic", "recall"),
         "queries": len(cases)},
        {"case": "latency", "unit": "ms", "p95": round(percentile(latency["hybrid"], 0.95), 1),
         "p50": round(percentile(latency["hybrid"], 0.5), 1),
         "peer_p95": round(percentile(latency["keyword"], 0.95), 1), "target_p95": TARGET_P95_MS,
         "cpu_p95": round(percentile(cpu["hybrid"], 0.95), 1),
         "peer_cpu_p95": round(percentile(cpu["keyword"], 0.95), 1), "page_size": page_size,
         "load_average": round(load, 2) if load is not None else None, "cpus": os.cpu_count()},
    ]})


if __name__ == "__main__":
    main()
