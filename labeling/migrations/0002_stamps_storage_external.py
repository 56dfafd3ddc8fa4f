"""Stamps' bytea columns: stored out of line without PostgreSQL's own compression (STORAGE EXTERNAL).

The stamps are zlib streams already; pglz found nothing to gain in them and spent ingest CPU looking.
Storage only: the bytes read back are the same, and other databases are left as they are.
"""

from django.db import migrations

COLUMNS = ("science", "template", "difference")


def set_storage(storage):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("labeling", "Stamps")._meta.db_table)
        for column in COLUMNS:
            schema_editor.execute(
                f"ALTER TABLE {table} ALTER COLUMN {schema_editor.quote_name(column)} SET STORAGE {storage}"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [("labeling", "0001_initial")]

    operations = [migrations.RunPython(set_storage("EXTERNAL"), set_storage("EXTENDED"))]
