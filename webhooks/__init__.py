"""Webhook endpoints, signing, target checks and the delivery log: the tenant's systems hear about events.

The delivery itself is `workflows.webhook_delivery.WebhookDeliveryWorkflow`; its side effects are the
activities in `activities/webhooks.py`, which use this package.
"""
