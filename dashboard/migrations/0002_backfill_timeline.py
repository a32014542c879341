from django.db import migrations


def backfill(apps, schema_editor):
    """Databases that already hold audit events get their timeline at once."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    if not AuditEvent.objects.exists():
        return
    from dashboard.timeline import rebuild_timeline

    rebuild_timeline()


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
