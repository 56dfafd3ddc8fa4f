"""What labeling tells the floors above it, without importing them.

Higher apps connect receivers in their ``AppConfig.ready()``; labeling never knows who listens.
"""

from django.dispatch import Signal

# Sent after an ingest has stored new alerts. ``alert_ids``: the primary keys of the alerts that were new.
alerts_ingested = Signal()

# Sent after consensus gave a campaign new labels (a subject retired). ``campaign``: the Campaign;
# ``subject``: the Subject whose label changed.
labels_changed = Signal()

# Sent once a campaign has gone live for the first time and its subjects are stored (after the commit).
# ``campaign``: the Campaign. Its queue has no order yet: whoever orders queues does so now, not at the next
# promotion or retraining.
campaign_went_live = Signal()
