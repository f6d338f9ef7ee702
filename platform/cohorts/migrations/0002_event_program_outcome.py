"""Events belong to the program they were planned from (a cohort may change program), and record how
they ended (done, skipped, failed) and their failed attempts."""

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):
    CohortEvent = apps.get_model("cohorts", "CohortEvent")
    Cohort = apps.get_model("cohorts", "Cohort")
    for cohort_id, program_id in Cohort.objects.values_list("pk", "program_id"):
        CohortEvent.objects.filter(cohort_id=cohort_id).update(program_id=program_id)
    CohortEvent.objects.filter(done_at__isnull=False).update(outcome="done")


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0001_initial"),
        ("programs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="cohortevent",
            name="program",
            field=models.ForeignKey(
                help_text="The program it was planned from.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="programs.program",
            ),
        ),
        migrations.AddField(
            model_name="cohortevent",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[("done", "Done"), ("skipped", "Skipped"), ("failed", "Failed")],
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="cohortevent",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="Failed attempts so far."),
        ),
        migrations.AddField(
            model_name="cohortevent",
            name="last_error",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="cohortevent",
            name="retry_at",
            field=models.DateTimeField(
                blank=True, help_text="After a failure: not tried again before.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="cohortevent",
            name="done_at",
            field=models.DateTimeField(
                blank=True, help_text="When it was carried out, skipped or given up.", null=True
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="cohortevent",
            name="program",
            field=models.ForeignKey(
                help_text="The program it was planned from.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="programs.program",
            ),
        ),
        migrations.RemoveConstraint(model_name="cohortevent", name="cohort_event_unique_key"),
        migrations.AddConstraint(
            model_name="cohortevent",
            constraint=models.UniqueConstraint(
                fields=("cohort", "program", "key"), name="cohort_event_unique_key"
            ),
        ),
    ]
