"""The keyword index: an FTS5 table on SQLite, a tsvector table with a GIN index on PostgreSQL. Each engine
gets only its own (the shop runs on these two)."""
from django.db import migrations

SQLITE_FORWARD = [
    # porter: "kurtas" finds "kurta"; remove_diacritics: "cafe" finds "café". rowid is the product id.
    "CREATE VIRTUAL TABLE search_product_fts USING fts5("
    "title, brand, extra, description, tokenize = 'porter unicode61 remove_diacritics 2')",
]
SQLITE_BACKWARD = ["DROP TABLE IF EXISTS search_product_fts"]
POSTGRES_FORWARD = [
    # No foreign key to catalog_product: Django's flush (tests, `manage.py flush`) truncates only the tables
    # of its models and PostgreSQL refuses to truncate a table another one references. The indexer drops
    # documents of deleted products (delete_orphans), and every search joins the live products anyway.
    "CREATE TABLE search_product_document (product_id bigint PRIMARY KEY, document tsvector NOT NULL)",
    "CREATE INDEX search_product_document_gin ON search_product_document USING gin (document)",
]
POSTGRES_BACKWARD = ["DROP TABLE IF EXISTS search_product_document"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor) -> None:
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("search", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
