"""Labelled utterances for the intent and slot model: the label set, loaders for the Bitext releases, plain
`utterance,intent` CSVs and the project's own examples, and a held-out split that never leaks a duplicate.
"""
import csv
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

# The 27 Bitext customer-support intents (names as in the 4.5K release).
BITEXT_INTENTS: tuple[str, ...] = (
    "cancel_order", "change_order", "change_shipping_address", "check_cancellation_fee", "check_invoice",
    "check_payment_methods", "check_refund_policy", "complaint", "contact_customer_service",
    "contact_human_agent", "create_account", "delete_account", "delivery_options", "delivery_period",
    "edit_account", "get_invoice", "get_refund", "newsletter_subscription", "payment_issue", "place_order",
    "recover_password", "registration_problems", "review", "set_up_shipping_address", "switch_account",
    "track_order", "track_refund",
)
# What a shop's widget also hears that Bitext does not cover; trained from the project's own examples.
SHOP_INTENTS: tuple[str, ...] = ("product_search", "greeting")
OUT_OF_SCOPE = "out_of_scope"
LABELS: tuple[str, ...] = (*BITEXT_INTENTS, *SHOP_INTENTS, OUT_OF_SCOPE)

# The 20K release spells one intent differently.
_ALIASES = {"check_invoices": "check_invoice"}
# Bitext's entity types, plus the e-mail addresses a guest gives to verify an order.
SLOT_TYPES: tuple[str, ...] = (
    "order_id", "invoice_id", "email", "person_name", "account_type", "delivery_city", "delivery_country",
    "refund_amount",
)

SHIPPED_EXAMPLES = Path(__file__).resolve().parent / "data" / "intents.csv"
BITEXT_SPANS_FILE = "Bitext_Sample_Customer_Support_Training_Dataset_4.5K_responses.csv"
BITEXT_INTENTS_FILE = "Bitext_20K_utterances_intents.csv"


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    # (start, end, slot type) character spans; None when the source has no span annotation at all (the
    # slot loss skips those rows rather than learning that they contain no entities).
    spans: tuple[tuple[int, int, str], ...] | None = None
    source: str = ""


def canonical_intent(name: str) -> str:
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def normalise(text: str) -> str:
    """The key duplicates are found by: case, spacing and trailing punctuation do not make a new utterance."""
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip("?!. ")


def load_csv(path: Path) -> list[Example]:
    """`utterance,intent` rows; intent names outside LABELS are kept (evaluation reports them as misses)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"utterance", "intent"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return [
            Example(row["utterance"].strip(), canonical_intent(row["intent"]), source=path.name)
            for row in reader
            if row["utterance"] and row["utterance"].strip()
        ]


def _spans_row(row: dict[str, str]) -> tuple[tuple[int, int, str], ...]:
    if not row.get("entity_type") or not row.get("start_offset"):
        return ()
    start, end = int(row["start_offset"]), int(row["end_offset"])
    if not (0 <= start < end <= len(row["instruction"])):
        return ()
    return ((start, end, row["entity_type"]),)


def load_bitext(directory: Path) -> list[Example]:
    """Both Bitext releases in `directory`: the 4.5K one brings entity spans, the 20K one intents only."""
    examples: list[Example] = []
    spans_file, intents_file = directory / BITEXT_SPANS_FILE, directory / BITEXT_INTENTS_FILE
    if not spans_file.is_file() and not intents_file.is_file():
        raise FileNotFoundError(f"{directory}: neither {BITEXT_SPANS_FILE} nor {BITEXT_INTENTS_FILE} is there")
    if spans_file.is_file():
        with open(spans_file, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                examples.append(
                    Example(row["instruction"], canonical_intent(row["intent"]), _spans_row(row), spans_file.name)
                )
    if intents_file.is_file():
        with open(intents_file, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["utterance"].strip():
                    examples.append(Example(row["utterance"].strip(), canonical_intent(row["intent"]), None, intents_file.name))
    return examples


def shipped_examples() -> list[Example]:
    """The project's own examples (written for Aisle, not taken from Bitext): every label, a dozen each."""
    return [Example(e.text, e.intent, None, "shipped") for e in load_csv(SHIPPED_EXAMPLES)]


def load_training_data(path: Path | None) -> list[Example]:
    """What train_chatbot learns from: the shipped examples, plus the Bitext folder or a CSV when given."""
    examples = shipped_examples()
    if path is not None:
        examples += load_bitext(path) if path.is_dir() else load_csv(path)
    unknown = sorted({e.intent for e in examples} - set(LABELS))
    if unknown:
        raise ValueError(f"unknown intent(s) in the training data: {', '.join(unknown)}")
    return examples


def deduplicate(examples: list[Example]) -> list[Example]:
    """One example per normalised text (the first, which keeps spans when the 4.5K file has them)."""
    seen: set[str] = set()
    unique = []
    for example in examples:
        key = normalise(example.text)
        if key not in seen:
            seen.add(key)
            unique.append(example)
    return unique


def split_heldout(examples: list[Example], *, fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, held_out), stratified by intent, after deduplication so no held-out text is seen in training.

    The shipped examples always stay in training: they are the floor the demo needs, not test material.
    """
    by_intent: dict[str, list[Example]] = defaultdict(list)
    train: list[Example] = []
    for example in deduplicate(examples):
        if example.source == "shipped":
            train.append(example)
        else:
            by_intent[example.intent].append(example)
    rng = random.Random(seed)
    held_out: list[Example] = []
    for intent in sorted(by_intent):
        group = by_intent[intent]
        rng.shuffle(group)
        cut = round(len(group) * fraction)
        held_out += group[:cut]
        train += group[cut:]
    return train, held_out


def write_csv(path: Path, examples: list[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["utterance", "intent"])
        writer.writerows((e.text, e.intent) for e in examples)
