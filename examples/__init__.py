"""Example activities for the plans in plans/ (they run in the activity pool's children)."""
