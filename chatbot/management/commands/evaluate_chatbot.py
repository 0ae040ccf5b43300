"""manage.py evaluate_chatbot --intents PATH [--json] [--model-version V]

Scores the active intent model (or --model-version) on an `utterance,intent` CSV: accuracy, macro-F1 over the
gold intents, per-intent errors, and out-of-scope figures. With --json the last line is
{"utterances": n, "accuracy": x, "macro_f1": y, "out_of_scope": {...}}.
"""
import json
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.intent_data import load_csv
from chatbot.intent_training import classification_metrics
from chatbot.intents import TASK, get_intent_model, model_from_artifact
from llm_core.registry import Registry, RegistryError


class Command(BaseCommand):
    help = "Evaluate the chatbot intent model on a CSV with columns utterance,intent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--intents", type=Path, required=True)
        parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object, last")
        parser.add_argument("--model-version", help="a registered version (default: the active one)")

    def handle(self, *args, **options) -> None:
        path: Path = options["intents"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            examples = load_csv(path)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if not examples:
            raise CommandError(f"{path} has no utterances")
        if options["model_version"]:
            try:
                artifact = Registry(settings.MODEL_DIR).load_artifact(TASK, options["model_version"])
            except RegistryError as error:
                raise CommandError(str(error)) from error
            model = model_from_artifact(artifact.config, artifact.state_dict)
        else:
            model = get_intent_model()
        predictions = [u.intent for u in model.predict_batch([e.text for e in examples])]
        metrics = classification_metrics([e.intent for e in examples], predictions)
        confusions = Counter((e.intent, p) for e, p in zip(examples, predictions) if e.intent != p)
        if not options["json"]:
            self.stdout.write(f"model: {model.kind}, threshold {model.threshold:.3f}")
            for (gold, predicted), count in confusions.most_common(10):
                self.stdout.write(f"  {gold} -> {predicted}: {count}")
        else:
            self.stdout.write(json.dumps({"model": model.kind, "top_confusions": [
                {"gold": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(5)]}))
        summary = {k: metrics[k] for k in ("utterances", "accuracy", "macro_f1", "out_of_scope")}
        self.stdout.write(json.dumps(summary) if options["json"] else json.dumps(summary, indent=2))
