"""An index on django-celery-beat's ClockedSchedule.clocked_time: NexusScheduler reads a short horizon of
clocked one-offs by time, which without it is a scan of every calendar event (43 ms vs 0.12 ms per read
at 1,000,000 events on PostgreSQL; docs/benchmarks.md).

It used to be core's migration 0001; IF NOT EXISTS makes this a no-op on a database that has it from there."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        # On a large live table, create it by hand with CREATE INDEX CONCURRENTLY first; IF NOT EXISTS
        # then makes this a no-op.
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS nexus_clockedschedule_clocked_time "
            "ON django_celery_beat_clockedschedule (clocked_time)",
            "DROP INDEX IF EXISTS nexus_clockedschedule_clocked_time",
        ),
    ]
