"""Side effects, one kind per module: the case file (database), paging, notification, dispatch."""
