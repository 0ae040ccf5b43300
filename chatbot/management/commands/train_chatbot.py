"""manage.py train_chatbot [--data PATH] [--model embedding|encoder|both] ...

Trains the intent and slot model on the shipped examples plus, when given, the Bitext folder
(../shared/datasets/bitext_customer_support) or an `utterance,intent` CSV. A slice of --data is held out
(written as a CSV under var/chatbot/, never into the repository) and the model is scored on it; the result
is registered under task "chatbot" with its metrics.json and activated.
"""
import json
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.intent_data import load_training_data, shipped_examples, split_heldout, write_csv
from chatbot.intent_training import evaluate_model, save_model, slot_metrics, train_embedding_model, train_encoder_model
from chatbot.intents import TASK
from llm_core.registry import Registry


class Command(BaseCommand):
    help = "Train the chatbot's intent and slot model and register it (task 'chatbot')."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, help="Bitext folder or utterance,intent CSV (default: shipped examples only)")
        parser.add_argument("--model", choices=["embedding", "encoder", "both"], default="embedding",
                            help="'both' trains the two kinds, scores them on the held-out split and keeps the better")
        parser.add_argument("--hidden", type=int, default=512, help="embedding kind: hidden units (0 = logistic regression)")
        parser.add_argument("--epochs", type=int, help="default: 30 (embedding), 4 (encoder)")
        parser.add_argument("--holdout", type=float, default=0.15, help="fraction of --data held out for scoring (0: none)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-activate", action="store_true")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **options) -> None:
        data: Path | None = options["data"]
        if data is not None and not data.exists():
            raise CommandError(f"{data} does not exist")
        try:
            examples = load_training_data(data)
        except (ValueError, FileNotFoundError) as error:
            raise CommandError(str(error)) from error
        seed, progress = options["seed"], not options["quiet"]
        held_out = []
        if data is not None and options["holdout"] > 0:
            train, held_out = split_heldout(examples, fraction=options["holdout"], seed=seed)
            heldout_file = Path(settings.VAR_DIR) / "chatbot" / f"heldout-seed{seed}.csv"
            write_csv(heldout_file, held_out)
            self.stdout.write(f"held out {len(held_out)} utterances -> {heldout_file}")
        else:
            train = examples if data is not None else shipped_examples()
        self.stdout.write(f"training on {len(train)} utterances")

        kinds = ["embedding", "encoder"] if options["model"] == "both" else [options["model"]]
        candidates = []
        for kind in kinds:
            if kind == "embedding":
                model, info = train_embedding_model(train, hidden=options["hidden"], epochs=options["epochs"] or 30, seed=seed, progress=progress)
            else:
                model, info = train_encoder_model(train, epochs=options["epochs"] or 4, seed=seed, progress=progress)
            metrics = {"kind": kind, "threshold": round(model.threshold, 4), **info}
            if held_out:
                metrics["held_out"] = evaluate_model(model, held_out)
                metrics["held_out"]["order_id_slot"] = slot_metrics(model, held_out)
            self.stdout.write(json.dumps(metrics))
            candidates.append((metrics.get("held_out", {}).get("accuracy", 0.0), kind, model, metrics))

        _, kind, model, metrics = max(candidates, key=lambda c: c[0])
        summary = {**metrics, "data": str(data) if data else "shipped", "holdout_fraction": options["holdout"] if held_out else 0,
                   "seed": seed, "compared": {c[1]: c[3].get("held_out") for c in candidates} if len(candidates) > 1 else None}
        registry = Registry(settings.MODEL_DIR)
        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, Path(tmp))
            version = registry.register(TASK, tmp, metrics=summary, card=_card(summary), activate=not options["no_activate"])
        self.stdout.write(self.style.SUCCESS(f"registered {TASK}/{version} ({kind}){'' if options['no_activate'] else ', active'}"))


def _card(metrics: dict) -> str:
    return (
        f"# chatbot intent and slot model ({metrics['kind']})\n\n"
        "Classifies a shopper's message into 27 Bitext customer-support intents, two shop intents "
        "(product_search, greeting) or out_of_scope, and tags order numbers. Trained in-house by Aisle.\n\n"
        f"```json\n{json.dumps(metrics, indent=2)}\n```\n"
    )
