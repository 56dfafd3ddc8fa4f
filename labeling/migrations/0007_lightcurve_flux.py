# Blink: a light-curve point's flux (Rubin's psfFlux and psfFluxErr, nJy), null for ZTF's magnitude-only points.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0006_alert_survey_rubin"),
    ]

    operations = [
        migrations.AddField(
            model_name="lightcurvepoint",
            name="flux_njy",
            field=models.FloatField(blank=True, help_text="Rubin psfFlux (nJy), forced sources too", null=True),
        ),
        migrations.AddField(
            model_name="lightcurvepoint",
            name="flux_err_njy",
            field=models.FloatField(blank=True, help_text="Rubin psfFluxErr (nJy)", null=True),
        ),
    ]
