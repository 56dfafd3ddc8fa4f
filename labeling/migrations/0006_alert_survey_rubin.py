# Blink: Alert.survey and the Rubin columns (mapping in labeling.models.alerts), StampPlane for Rubin cutout planes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0005_vote_weight_and_served'),
    ]

    operations = [
        migrations.AddField(
            model_name='alert',
            name='flux_err_njy',
            field=models.FloatField(blank=True, help_text='Rubin diaSource.psfFluxErr, nJy', null=True),
        ),
        migrations.AddField(
            model_name='alert',
            name='flux_njy',
            field=models.FloatField(blank=True, help_text='Rubin diaSource.psfFlux, nJy', null=True),
        ),
        migrations.AddField(
            model_name='alert',
            name='snr',
            field=models.FloatField(blank=True, help_text='Rubin diaSource.snr; null for ZTF', null=True),
        ),
        migrations.AddField(
            model_name='alert',
            name='survey',
            field=models.CharField(choices=[('ztf', 'ZTF'), ('rubin', 'Rubin')], db_default='ztf', default='ztf', max_length=8),
        ),
        migrations.AddField(
            model_name='alert',
            name='survey_extra',
            field=models.JSONField(blank=True, help_text='Rubin: diaObject, ssSource, MPCORB / mpc_orbits, scheduler labels', null=True),
        ),
        migrations.AlterField(
            model_name='alert',
            name='candidate',
            field=models.JSONField(help_text="The packet's whole candidate record (Rubin: its diaSource), as sent"),
        ),
        migrations.CreateModel(
            name='StampPlane',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(help_text='science, template or difference', max_length=16)),
                ('plane', models.CharField(help_text='variance or psf', max_length=16)),
                ('height', models.SmallIntegerField()),
                ('width', models.SmallIntegerField()),
                ('data', models.BinaryField()),
                ('alert', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stamp_planes', to='labeling.alert')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('alert', 'kind', 'plane'), name='stamp_plane_unique')],
            },
        ),
    ]
