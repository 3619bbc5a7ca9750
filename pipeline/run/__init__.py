"""One generation run, resumable: its config, identity and inputs, the quota state, the stages over
batches, the driver that keeps batches in flight, the services a run opens (models, judge routes), the run
lock and stopping, preflight checks, progress and the run's summary."""
