"""Side effects as Temporal activities: `@activity.defn` classes only, built by the worker's composition root."""
