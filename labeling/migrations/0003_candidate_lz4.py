"""The alert's ``candidate`` JSON (~4 kB, the whole candidate record): compressed with LZ4, not pglz.

PostgreSQL compresses any value over ~2 kB when it is stored; with pglz that was a quarter of the
server's CPU per ingested alert (0.24 -> 0.17 ms an alert for the alert rows' COPY, measured). LZ4 compresses
JSON nearly as well at a fraction of the CPU. Storage only: the values read back are the same. Skipped on
other databases, and on a PostgreSQL older than 14 or built without LZ4.
"""

from django.db import migrations


def set_compression(method):
    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or connection.pg_version < 140000:
            return
        table = schema_editor.quote_name(apps.get_model("labeling", "Alert")._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND %s = ANY(enumvals)", [method]
            )
            if cursor.fetchone() is None:  # this server was built without it
                return
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN candidate SET COMPRESSION {method}")

    return run


class Migration(migrations.Migration):
    dependencies = [("labeling", "0002_stamps_storage_external")]

    operations = [migrations.RunPython(set_compression("lz4"), set_compression("pglz"))]
