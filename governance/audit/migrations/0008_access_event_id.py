"""An identifier for access events, which reach the trail through a queue (``access_queue``).

A request queues its access event with a fresh UUID; the drain appends each identifier at most
once, so an event delivered twice (a drain that died between its commit and trimming the queue)
is appended once. The index is partial: the other events carry no identifier.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0007_insert_unsealed_only'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='event_id',
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.UniqueConstraint(condition=models.Q(('event_id__isnull', False)), fields=('event_id',), name='audit_event_id_unique'),
        ),
    ]
