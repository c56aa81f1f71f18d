"""The delivery log of a subscription, sending a delivery again, and replaying stored events."""
